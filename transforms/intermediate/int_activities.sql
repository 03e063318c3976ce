-- int_activities: every Task and Event the org held at $as_of, dated by when it happened (the activity clock,
-- transforms/README.md). A record saved after $as_of is not known then, however far back its activity date
-- goes, and a Task completed after $as_of was still open then. grain: activity; key: activity_id
create or replace table marts.int_activities as

with tasks as (
    select * from staging.stg_tasks
),

events as (
    select * from staging.stg_events
),

unioned as (
    select
        task_id as activity_id,
        'task' as activity_kind,
        account_id,
        who_id as contact_id,
        what_id,
        owner_id,
        subject,
        task_type as activity_type,
        occurred_at,
        created_at as recorded_at,
        -- CompletedDateTime is set when the Task is closed (read-only); an old Task without it counts from its creation
        is_completed and coalesce(completed_at, created_at) <= $as_of as is_done,
        risk_task_key is not null as is_pipeline_task
    from tasks
    where created_at <= $as_of

    union all

    select
        event_id as activity_id,
        'event' as activity_kind,
        account_id,
        who_id as contact_id,
        what_id,
        owner_id,
        subject,
        event_type as activity_type,
        starts_at as occurred_at,
        created_at as recorded_at,
        starts_at <= $as_of as is_done,
        false as is_pipeline_task
    from events
    where created_at <= $as_of
),

final as (
    select
        *,
        -- contact with the customer by then (marts.int_account_touches): done, happened by $as_of, and not one of
        -- the pipeline's own owner Tasks (it completes them itself when a signal clears)
        is_done and occurred_at <= $as_of and not is_pipeline_task as is_touch
    from unioned
)

select * from final
