-- macros: small helpers every model uses. Rules come from meta.rules (written by transforms/rules.py).

-- The rules are copied into two session variables (name -> value maps) so that every model reads them as
-- constants: a scalar subquery per rule lookup made each model ten times slower to plan.
set variable rule_num = (
    select map(list(signal_id || '.' || param), list(num_value)) from meta.rules where num_value is not null
);

set variable rule_text = (
    select map(list(signal_id || '.' || param), list(text_value)) from meta.rules where text_value is not null
);

create or replace macro meta.rule_num(sig, key) as getvariable('rule_num')[sig || '.' || key];

create or replace macro meta.rule_text(sig, key) as getvariable('rule_text')[sig || '.' || key];

create or replace macro meta.rule_list(sig, key) as
    cast(json_transform(meta.rule_text(sig, key), '["VARCHAR"]') as varchar[]);

-- a threshold for an account's lifecycle stage: the profile's override ([signals.X.onboarding]) or the default
create or replace macro meta.rule_for(sig, key, profile) as coalesce(
    getvariable('rule_num')[sig || '.' || profile || '.' || key],
    getvariable('rule_num')[sig || '.' || key]
);

-- a rule value in days as an interval
create or replace macro meta.rule_days(sig, key) as to_days(cast(meta.rule_num(sig, key) as integer));

-- "3 May 2026": dates as a rep reads them
create or replace macro meta.human_date(ts) as strftime(cast(ts as date), '%-d %b %Y');

-- 3.0 -> "3", 2.5 -> "2.5"
create or replace macro meta.human_num(x) as
    case when x = round(x) then cast(cast(x as bigint) as varchar) else cast(round(x, 1) as varchar) end;

-- 1 -> "1 day", 4.5 -> "4.5 days"
create or replace macro meta.n_days(x) as meta.human_num(x) || case when x = 1 then ' day' else ' days' end;

-- "J. Smith"
create or replace macro meta.short_name(first_name, last_name, full_name) as
    case
        when last_name is not null and first_name is not null then left(first_name, 1) || '. ' || last_name
        else coalesce(full_name, last_name, 'an unnamed contact')
    end;

-- days between two instants, fractional
create or replace macro meta.days_between(a, b) as epoch(b - a) / 86400.0;

-- the pushed payload's hash; identical to connectors.warehouse.payload_hash (computed-at left out on purpose)
create or replace macro meta.risk_payload_hash(level, score, reasons, trend, model_version) as md5(concat_ws('|',
    coalesce(level, ''),
    coalesce(cast(cast(round(score) as bigint) as varchar), ''),
    coalesce(reasons, ''),
    coalesce(trend, ''),
    coalesce(model_version, '')
));
