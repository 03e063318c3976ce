-- sig_expansion_ready (positive): recent cases closed and followed up, confirmed satisfied (CSAT recorded and at
-- least `min_csat`), no open urgent case and no open opportunity; shown only when no high or medium risk signal
-- fires (marts.account_signals). grain: account; key: account_id
create or replace table marts.sig_expansion_ready as

with service as (
    select * from marts.int_account_service_history
),

sales as (
    select * from marts.int_account_sales_history
),

cases as (
    select * from marts.int_cases
    where closed_at_as_of > $as_of - meta.rule_days('expansion_ready', 'window_days')
),

touches as (
    select * from marts.int_account_touches
),

recent as (
    select
        account_id,
        count(*) as closed_count,
        max(closed_at_as_of) as last_closed_at,
        avg(csat) as avg_csat,
        coalesce(bool_and(csat >= meta.rule_num('expansion_ready', 'min_csat')) filter (where csat is not null), true)
            as satisfied
    from cases
    group by 1
),

final as (
    select
        recent.account_id,
        'expansion_ready' as signal_id,
        to_json({'closed_count': recent.closed_count, 'avg_csat': recent.avg_csat,
            'last_closed_at': recent.last_closed_at}) as evidence,
        recent.closed_count || case when recent.closed_count = 1 then ' recent issue was' else ' recent issues were' end
            || ' resolved and followed up'
            || coalesce(' (satisfaction ' || meta.human_num(round(recent.avg_csat, 1)) || ' of 5)', '')
            || '; no deal is open.' as reason
    from recent
    inner join service on recent.account_id = service.account_id
    inner join sales on recent.account_id = sales.account_id
    where recent.closed_count >= meta.rule_num('expansion_ready', 'min_closed_cases')
        and recent.satisfied
        and recent.avg_csat is not null
        and service.open_urgent_cases = 0
        and sales.open_count = 0
        and exists (
            select 1 from touches
            where touches.account_id = recent.account_id and touches.touched_at >= recent.last_closed_at
        )
)

select * from final
