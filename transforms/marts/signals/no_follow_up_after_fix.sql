-- sig_no_follow_up_after_fix: an escalated or high-priority case closed at least `closed_at_least_days` ago with no
-- completed task or event on the account (or with the case contact) within `follow_up_within_days` of closing.
-- A firing is `mitigated` (the rules' mitigated_severity) when the customer rated every one of those fixes at
-- least `mitigating_csat` (CSAT): the customer answered "did everything go as expected?" already.
-- grain: account; key: account_id
create or replace table marts.sig_no_follow_up_after_fix as

with cases as (
    select * from marts.int_cases
),

touches as (
    select * from marts.int_account_touches
),

closed_urgent as (
    select *
    from cases
    where is_urgent
        and closed_at_as_of <= $as_of - meta.rule_days('no_follow_up_after_fix', 'closed_at_least_days')
        and closed_at_as_of > $as_of - meta.rule_days('no_follow_up_after_fix', 'lookback_days')
),

unfollowed as (
    select closed_urgent.*
    from closed_urgent
    -- a touch on the account or with the case contact: two anti-joins, not one join on `a or b`, which DuckDB can
    -- only run as a nested loop (cases x touches: a minute at 50,000 accounts)
    where not exists (
        select 1
        from touches
        where touches.account_id = closed_urgent.account_id
            and touches.touched_at >= closed_urgent.closed_at_as_of
            and touches.touched_at <= closed_urgent.closed_at_as_of
                + meta.rule_days('no_follow_up_after_fix', 'follow_up_within_days')
    )
    and not exists (
        select 1
        from touches
        where touches.contact_id = closed_urgent.contact_id
            and touches.touched_at >= closed_urgent.closed_at_as_of
            and touches.touched_at <= closed_urgent.closed_at_as_of
                + meta.rule_days('no_follow_up_after_fix', 'follow_up_within_days')
    )
),

per_account as (
    select
        account_id,
        count(*) as case_count,
        list(case_id order by closed_at_as_of desc) as case_ids,
        list(case_number order by closed_at_as_of desc) as case_numbers,
        list(closed_at_as_of order by closed_at_as_of desc) as closed_at,
        list(case_number || ' on ' || meta.human_date(closed_at_as_of) order by closed_at_as_of desc) as labels,
        arg_max(urgency_label, closed_at_as_of) as latest_label,
        max(closed_at_as_of) as latest_closed_at,
        list(csat order by closed_at_as_of desc) as csat,
        -- every fix rated (an unrated one answers nothing) and every rating at least mitigating_csat
        count(csat) = count(*)
            and coalesce(bool_and(csat >= meta.rule_num('no_follow_up_after_fix', 'mitigating_csat')), false)
            as rated_well,
        min(csat) as lowest_csat
    from unfollowed
    group by 1
),

final as (
    select
        account_id,
        'no_follow_up_after_fix' as signal_id,
        to_json({'case_ids': case_ids, 'case_numbers': case_numbers, 'closed_at': closed_at,
            'case_count': case_count, 'csat': csat}) as evidence,
        case
            when case_count = 1
                then latest_label || ' case ' || case_numbers[1] || ' was closed on '
                    || meta.human_date(latest_closed_at) || '; nobody from the account team followed up.'
            else case_count || ' escalated or high-priority cases were closed without a follow-up from the account team ('
                || array_to_string(labels[1:3], ', ') || ').'
        end
        || case
            when rated_well and case_count = 1 then ' The customer rated the fix '
                || meta.human_num(lowest_csat) || ' of 5.'
            when rated_well then ' The customer rated each fix at least ' || meta.human_num(lowest_csat) || ' of 5.'
            else ''
        end as reason,
        rated_well as mitigated
    from per_account
)

select * from final
