-- int_account_service_history: each account's service record at $as_of over the last 90 and 180 days.
-- grain: account; key: account_id
create or replace table marts.int_account_service_history as

with accounts as (
    select * from staging.stg_accounts
),

cases as (
    select * from marts.int_cases
),

per_account as (
    select
        account_id,
        count(*) as cases_total,
        count(*) filter (where created_at > $as_of - interval 90 day) as cases_90d,
        count(*) filter (where is_urgent and created_at > $as_of - interval 90 day) as urgent_cases_90d,
        count(*) filter (where closed_at_as_of is null) as open_cases,
        count(*) filter (where closed_at_as_of is null and is_urgent) as open_urgent_cases,
        min(created_at) filter (where closed_at_as_of is null) as oldest_open_case_at,
        count(*) filter (where closed_at_as_of > $as_of - interval 90 day) as closed_cases_90d,
        avg(resolution_days) filter (where closed_at_as_of > $as_of - interval 90 day) as avg_resolution_days_90d,
        avg(csat) filter (where closed_at_as_of > $as_of - interval 90 day) as avg_csat_90d,
        max(created_at) as last_case_at
    from cases
    group by 1
),

final as (
    select
        accounts.account_id,
        coalesce(per_account.cases_total, 0) as cases_total,
        coalesce(per_account.cases_90d, 0) as cases_90d,
        coalesce(per_account.urgent_cases_90d, 0) as urgent_cases_90d,
        coalesce(per_account.open_cases, 0) as open_cases,
        coalesce(per_account.open_urgent_cases, 0) as open_urgent_cases,
        per_account.oldest_open_case_at,
        coalesce(per_account.closed_cases_90d, 0) as closed_cases_90d,
        per_account.avg_resolution_days_90d,
        per_account.avg_csat_90d,
        per_account.last_case_at
    from accounts
    left join per_account on accounts.account_id = per_account.account_id
)

select * from final
