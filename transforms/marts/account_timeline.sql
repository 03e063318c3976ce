-- account_timeline: everything that happened with an account up to $as_of, in one stream: cases opened and
-- closed, completed tasks and events, opportunities opened and closed, opportunity changes, owner changes.
-- grain: account x happening; key: (account_id, event_kind, record_id, occurred_at)
create or replace table marts.account_timeline as

with cases as (
    select * from marts.int_cases
),

touches as (
    select * from marts.int_account_touches
),

opportunities as (
    select * from staging.stg_opportunities
),

opportunity_history as (
    select * from staging.stg_opportunity_history
),

owner_changes as (
    select * from marts.int_owner_changes
),

unioned as (
    select account_id, created_at as occurred_at, 'case_opened' as event_kind, case_id as record_id,
        'Case ' || coalesce(case_number, '') as label,
        concat_ws(' / ', priority, case_type, reason, subject) as detail, owner_id as actor_id
    from cases

    union all

    select account_id, closed_at_as_of, 'case_closed', case_id, 'Case ' || coalesce(case_number, ''),
        'resolved in ' || meta.human_num(round(resolution_days, 1)) || ' days', owner_id
    from cases
    where closed_at_as_of is not null

    union all

    select account_id, touched_at, activity_kind, activity_id, coalesce(subject, activity_kind),
        activity_type, owner_id
    from touches

    union all

    select account_id, created_at, 'opportunity_opened', opportunity_id, opportunity_name,
        concat_ws(' / ', opportunity_type, stage_name), owner_id
    from opportunities
    where created_at <= $as_of

    union all

    select account_id, cast(close_date as timestamptz), 'opportunity_closed', opportunity_id, opportunity_name,
        stage_name, owner_id
    from opportunities
    where is_closed and cast(close_date as timestamptz) <= $as_of

    union all

    select opportunities.account_id, opportunity_history.changed_at, 'opportunity_changed',
        opportunity_history.opportunity_history_id, opportunities.opportunity_name,
        concat_ws(' / ', opportunity_history.stage_name, 'amount ' || opportunity_history.amount,
            'close ' || opportunity_history.close_date), null
    from opportunity_history
    inner join opportunities on opportunity_history.opportunity_id = opportunities.opportunity_id
    where opportunity_history.changed_at <= $as_of

    union all

    select account_id, changed_at, 'owner_changed', account_history_id, 'Owner change',
        concat_ws(' -> ', old_owner_name, new_owner_name), new_owner_id
    from owner_changes
),

-- no `order by`: sorting millions of wide rows is what ran out of memory at 50,000 accounts; readers order
-- (`order by account_id, occurred_at`)
final as (
    select * from unioned
    where account_id is not null and occurred_at is not null
)

select * from final
