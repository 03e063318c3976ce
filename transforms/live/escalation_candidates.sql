-- escalation_candidates: for `crm-risk demo --live`, the event-path tests and bench/events.py: Green customer
-- accounts with a closed, not urgent case of the last weeks that nobody followed up on. Escalating that case (the
-- rep marks it escalated after the fact) makes the account Red with "no follow-up after an urgent fix" and raises an
-- owner Task: a change whose effect on the flag is known. Margins of a day or more on every window of the signal
-- (transforms/marts/signals/no_follow_up_after_fix.sql) keep it true for a refresh scored minutes later.
-- One case per account, `$limit` accounts, most recently closed first.
with risk as (
    select * from marts.account_risk
    where level = 'Green'
),

cases as (
    select * from marts.int_cases
    where not is_urgent
        and closed_at_as_of between $as_of - to_days(55) and $as_of - to_days(9)
        and (csat is null or csat < (
            select num_value from meta.rules where signal_id = 'no_follow_up_after_fix' and param = 'mitigating_csat'
        ))
),

unfollowed as (
    select cases.account_id, cases.case_id, cases.closed_at_as_of
    from cases
    inner join risk on cases.account_id = risk.account_id
    where not exists (
        select 1 from marts.int_account_touches as touches
        where (touches.account_id = cases.account_id or touches.contact_id = cases.contact_id)
            and touches.touched_at >= cases.closed_at_as_of - to_days(1)
            and touches.touched_at <= cases.closed_at_as_of + to_days(8)
    )
    qualify row_number() over (partition by cases.account_id order by cases.closed_at_as_of desc, cases.case_id) = 1
)

select account_id, case_id from unfollowed
order by closed_at_as_of desc, account_id
limit $limit
