-- account_risk: one row per live customer account: level (Red/Amber/Green), score 0-100, the top reasons as
-- sentences (as one text for the Account field, and as a list for the flag events), trend against the reference
-- (marts.account_risk_reference: what the CRM showed [risk] trend_reference_days ago), model version;
-- `push_held_for`: the signals not scored (an object they read never loaded) that could still raise a level below
-- Red: such an account is not pushed (sync.account_push_pending) until they are. key: account_id
create or replace table marts.account_risk as

with accounts as (
    select * from marts.int_account_sales_history
    where is_customer
),

signals as (
    select * from marts.account_signals
),

sales as (
    select * from marts.int_account_sales_history
),

previous as (
    select * from marts.account_risk_reference
),

unscored as (
    select list(signal_id order by signal_id) as signal_ids
    from meta.signal_catalog
    where enabled and severity <> 'positive'
        and signal_id in (select signal_id from meta.signal_inputs where not loaded)
),

points as (
    select
        account_id,
        sum(points) filter (where severity <> 'positive') as risk_points,
        count(*) filter (where severity <> 'positive') as risk_signals,
        coalesce(bool_or(severity = 'high'), false) as has_high
    from signals
    group by 1
),

ranked_reasons as (
    select
        account_id,
        severity = 'positive' as is_positive,
        case
            when length(reason) > meta.rule_num('risk', 'reasons_max_chars')
                then left(reason, cast(meta.rule_num('risk', 'reasons_max_chars') as integer) - 1) || '…'
            else reason
        end as reason,
        row_number() over (
            partition by account_id, severity = 'positive'
            order by case severity when 'high' then 1 when 'medium' then 2 when 'low' then 3 else 4 end,
                points desc, signal_id
        ) as reason_rank
    from signals
),

fitted_reasons as (
    select
        *,
        sum(length(reason) + 1) over (
            partition by account_id, is_positive order by reason_rank rows unbounded preceding
        ) - 1 as length_so_far
    from ranked_reasons
    where reason_rank <= meta.rule_num('risk', 'reasons_count')
),

reasons as (
    select
        account_id,
        string_agg(reason, ' ' order by reason_rank) filter (where not is_positive) as risk_reasons,
        string_agg(reason, ' ' order by reason_rank) filter (where is_positive) as positive_reasons,
        list(reason order by reason_rank) filter (where not is_positive) as risk_reason_list,
        list(reason order by reason_rank) filter (where is_positive) as positive_reason_list
    from fitted_reasons
    where length_so_far <= meta.rule_num('risk', 'reasons_max_chars')
    group by 1
),

scored as (
    select
        accounts.account_id,
        coalesce(points.has_high, false) as has_high,
        coalesce(points.risk_signals, 0) as risk_signals,
        coalesce(sales.days_to_renewal <= meta.rule_num('risk', 'renewal_window_days'), false) as renewal_near,
        least(100, round(coalesce(points.risk_points, 0)
            * case
                when sales.days_to_renewal <= meta.rule_num('risk', 'renewal_window_days')
                    then meta.rule_num('risk', 'renewal_weight')
                else 1
            end)) as points_score,
        coalesce(reasons.risk_reasons, reasons.positive_reasons, meta.rule_text('risk', 'clear_reason')) as reasons,
        coalesce(reasons.risk_reason_list, reasons.positive_reason_list, [meta.rule_text('risk', 'clear_reason')])
            as reason_list
    from accounts
    left join points on accounts.account_id = points.account_id
    left join sales on accounts.account_id = sales.account_id
    left join reasons on accounts.account_id = reasons.account_id
),

leveled as (
    select
        *,
        case when has_high then greatest(points_score, meta.rule_num('risk', 'red_min_score')) else points_score end
            as score,
        case
            when has_high then 'Red'
            when points_score >= meta.rule_num('risk', 'amber_min_score') then 'Amber'
            else 'Green'
        end as level
    from scored
),

final as (
    select
        leveled.account_id,
        leveled.level,
        cast(leveled.score as double) as score,
        leveled.reasons,
        leveled.reason_list,
        case
            when previous.account_id is null then 'Steady'
            when (case leveled.level when 'Red' then 2 when 'Amber' then 1 else 0 end)
                > (case previous.level when 'Red' then 2 when 'Amber' then 1 else 0 end)
                or leveled.score - previous.score >= meta.rule_num('risk', 'trend_min_delta') then 'Rising'
            when (case leveled.level when 'Red' then 2 when 'Amber' then 1 else 0 end)
                < (case previous.level when 'Red' then 2 when 'Amber' then 1 else 0 end)
                or previous.score - leveled.score >= meta.rule_num('risk', 'trend_min_delta') then 'Falling'
            else 'Steady'
        end as trend,
        cast($as_of as timestamptz) as computed_at,
        $model_version as model_version,
        leveled.risk_signals,
        leveled.renewal_near,
        previous.level as previous_level,
        previous.score as previous_score,
        case when leveled.level <> 'Red' then (select signal_ids from unscored) end as push_held_for
    from leveled
    left join previous on leveled.account_id = previous.account_id
)

select * from final
