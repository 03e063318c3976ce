-- int_cases: cases of customer accounts as they stood at $as_of (a case closed later counts as open).
-- grain: case; key: case_id
create or replace table marts.int_cases as

with cases as (
    select * from staging.stg_cases
),

accounts as (
    select * from staging.stg_accounts
),

final as (
    select
        cases.*,
        accounts.expected_resolution_days,
        case when cases.is_closed and cases.closed_at <= $as_of then cases.closed_at end as closed_at_as_of,
        case
            when cases.is_closed and cases.closed_at <= $as_of
                then meta.days_between(cases.created_at, cases.closed_at)
        end as resolution_days,
        case when cases.is_urgent and cases.is_escalated then 'Escalated' when cases.is_urgent then 'High-priority'
        end as urgency_label
    from cases
    inner join accounts on cases.account_id = accounts.account_id
    where cases.created_at <= $as_of
)

select * from final
