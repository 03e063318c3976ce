-- sig_aging_open_cases: a case open at $as_of for more than `max_age_days` (`max_age_days_high` for high priority;
-- the onboarding profile's values for accounts in onboarding).
-- grain: account; key: account_id
create or replace table marts.sig_aging_open_cases as

with cases as (
    select * from marts.int_cases
    where closed_at_as_of is null
),

sales as (
    select * from marts.int_account_sales_history
),

overdue as (
    select
        cases.*,
        floor(meta.days_between(cases.created_at, $as_of)) as age_days
    from cases
    left join sales on cases.account_id = sales.account_id
    where meta.days_between(cases.created_at, $as_of) > case
        when cases.priority = 'High' then meta.rule_for('aging_open_cases', 'max_age_days_high', sales.lifecycle)
        else meta.rule_for('aging_open_cases', 'max_age_days', sales.lifecycle)
    end
),

per_account as (
    select
        account_id,
        count(*) as case_count,
        list(case_id order by created_at) as case_ids,
        list(case_number order by created_at) as case_numbers,
        min(created_at) as oldest_opened_at,
        arg_min(case_number, created_at) as oldest_case_number,
        max(age_days) as oldest_age_days
    from overdue
    group by 1
),

final as (
    select
        account_id,
        'aging_open_cases' as signal_id,
        to_json({'case_ids': case_ids, 'case_numbers': case_numbers, 'case_count': case_count,
            'oldest_opened_at': oldest_opened_at, 'oldest_age_days': oldest_age_days}) as evidence,
        -- dates, not ages, so the sentence (and the pushed value) does not change every night
        case
            when case_count = 1
                then 'Case ' || oldest_case_number || ' has been open since ' || meta.human_date(oldest_opened_at) || '.'
            else case_count || ' cases are overdue; the oldest, ' || oldest_case_number || ', has been open since '
                || meta.human_date(oldest_opened_at) || '.'
        end as reason
    from per_account
)

select * from final
