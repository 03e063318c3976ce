-- account_signals: one row per customer account and fired signal, with severity, points and action from the
-- rules, the evidence (record ids, dates, counts) and the sentence the rep reads. key: (account_id, signal_id)
-- A signal's SQL may add a `mitigated` column: a mitigated firing takes the rules' `mitigated_severity`.
create or replace table marts.account_signals as

with fired as (
    -- every signal's marts.sig_<id> (the runner binds the list from the rules file), union all by name
    select * from query_table($signal_tables::varchar[], true)
),

unloaded as (
    -- a signal reading an object never loaded is not scored (marts.signal_coverage): no firing from half a picture
    select distinct signal_id from meta.signal_inputs
    where not loaded
),

catalog as (
    select * from meta.signal_catalog
    where enabled and signal_id not in (select signal_id from unloaded)
),

accounts as (
    select * from marts.int_account_sales_history
    where is_customer
),

graded as (
    select
        fired.*,
        catalog.points,
        catalog.action,
        case
            when fired.mitigated then coalesce(catalog.mitigated_severity, catalog.severity)
            else catalog.severity
        end as severity
    from fired
    inner join catalog on fired.signal_id = catalog.signal_id
),

risky_accounts as (
    select distinct account_id
    from graded
    where severity in ('high', 'medium')
),

final as (
    select
        graded.account_id,
        graded.signal_id,
        graded.severity,
        graded.points,
        cast(graded.evidence as json) as evidence,
        graded.reason,
        graded.action,
        cast($as_of as timestamptz) as as_of
    from graded
    inner join accounts on graded.account_id = accounts.account_id
    -- a positive signal next to a real risk would mislead the rep
    where graded.severity <> 'positive' or graded.account_id not in (select account_id from risky_accounts)
)

select * from final
