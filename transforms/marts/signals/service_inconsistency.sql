-- sig_service_inconsistency: after onboarding (the first `onboarding_days` after the first win), case resolution
-- (median days to fix) got worse by more than `worse_share` and at least `min_extra_days`, or `gap_months` of the
-- last six months had no touch at all while the months around them had.
-- grain: account; key: account_id
create or replace table marts.sig_service_inconsistency as

with sales as (
    select * from marts.int_account_sales_history
    where first_won_date is not null
        and cast(first_won_date as timestamptz) + meta.rule_days('service_inconsistency', 'onboarding_days') <= $as_of
),

cases as (
    select * from marts.int_cases
    where resolution_days is not null
),

touches as (
    select * from marts.int_account_touches
),

resolution as (
    select
        sales.account_id,
        median(cases.resolution_days) filter (where cases.created_at
            < cast(sales.first_won_date as timestamptz) + meta.rule_days('service_inconsistency', 'onboarding_days')
            and cases.created_at >= cast(sales.first_won_date as timestamptz)) as onboarding_days_to_fix,
        count(*) filter (where cases.created_at
            < cast(sales.first_won_date as timestamptz) + meta.rule_days('service_inconsistency', 'onboarding_days')
            and cases.created_at >= cast(sales.first_won_date as timestamptz)) as onboarding_cases,
        median(cases.resolution_days) filter (where cases.created_at
            >= cast(sales.first_won_date as timestamptz) + meta.rule_days('service_inconsistency', 'onboarding_days')
            and cases.created_at > $as_of - meta.rule_days('service_inconsistency', 'recent_days')) as recent_days_to_fix,
        count(*) filter (where cases.created_at
            >= cast(sales.first_won_date as timestamptz) + meta.rule_days('service_inconsistency', 'onboarding_days')
            and cases.created_at > $as_of - meta.rule_days('service_inconsistency', 'recent_days')) as recent_cases
    from sales
    inner join cases on sales.account_id = cases.account_id
    group by 1
),

months as (
    select unnest(range(0, cast(meta.rule_num('service_inconsistency', 'gap_window_days') / 30 as integer))) as month_index
),

month_touched as (
    select
        sales.account_id,
        months.month_index,
        exists (
            select 1 from touches
            -- whole days back from the as-of date: month 0 is days 0-30, month 1 days 31-60, ... (a touch at 4 pm
            -- sixty days ago is in the same month whatever the hour of the run)
            where touches.account_id = sales.account_id
                and greatest(cast($as_of as date) - cast(touches.touched_at as date) - 1, 0) // 30
                    = months.month_index
        ) as touched
    from sales
    cross join months
),

-- a silent month between two months with contact: the pace broke, the account was not simply left alone
silent_months as (
    select
        account_id,
        count(*) filter (where not touched and previous_touched and next_touched) as months_without_touch
    from (
        select
            *,
            lag(touched) over (partition by account_id order by month_index) as previous_touched,
            lead(touched) over (partition by account_id order by month_index) as next_touched
        from month_touched
    )
    group by 1
),

assessed as (
    select
        sales.account_id,
        resolution.onboarding_days_to_fix,
        resolution.recent_days_to_fix,
        resolution.onboarding_cases,
        resolution.recent_cases,
        coalesce(silent_months.months_without_touch, 0) as months_without_touch,
        coalesce(resolution.onboarding_cases >= meta.rule_num('service_inconsistency', 'min_cases')
            and resolution.recent_cases >= meta.rule_num('service_inconsistency', 'min_cases')
            and resolution.recent_days_to_fix
                > resolution.onboarding_days_to_fix * (1 + meta.rule_num('service_inconsistency', 'worse_share'))
            and resolution.recent_days_to_fix - resolution.onboarding_days_to_fix
                >= meta.rule_num('service_inconsistency', 'min_extra_days'),
            false) as slower,
        coalesce(silent_months.months_without_touch, 0) >= meta.rule_num('service_inconsistency', 'gap_months')
            as gaps
    from sales
    left join resolution on sales.account_id = resolution.account_id
    left join silent_months on sales.account_id = silent_months.account_id
),

final as (
    select
        account_id,
        'service_inconsistency' as signal_id,
        to_json({'onboarding_days_to_fix': onboarding_days_to_fix, 'recent_days_to_fix': recent_days_to_fix,
            'onboarding_cases': onboarding_cases, 'recent_cases': recent_cases,
            'months_without_touch': months_without_touch}) as evidence,
        case
            when slower then 'Cases took ' || meta.n_days(round(onboarding_days_to_fix, 1))
                || ' to fix in the first ' || meta.human_num(meta.rule_num('service_inconsistency', 'onboarding_days') / 30)
                || ' months, ' || meta.n_days(round(recent_days_to_fix, 1)) || ' since.'
            else 'No contact from the account team in ' || months_without_touch || ' of the last '
                || meta.human_num(meta.rule_num('service_inconsistency', 'gap_window_days') / 30) || ' months.'
        end as reason
    from assessed
    where slower or gaps
)

select * from final
