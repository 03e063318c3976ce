-- account_timeline: everything that happened with an account up to $as_of, in one stream: cases opened and
-- closed, completed tasks and events, opportunities opened and closed, opportunity changes, owner changes.
-- grain: account x happening; key: (account_id, event_kind, record_id, occurred_at)
-- A view: nothing in the run reads it, and its 5.4 million rows at 50,000 accounts took 3-4 s of every run to write
-- (bench/transform_models.py); its inputs are the run's as-of tables, so reading it later shows the same rows.
create or replace view marts.account_timeline as

with cases as (
    select * from marts.int_cases
),

touches as (
    select * from marts.int_account_touches
),

opportunity_events as (
    select * from marts.int_opportunity_events
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

    select account_id, occurred_at, event_kind, record_id, label, detail, actor_id
    from opportunity_events

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
