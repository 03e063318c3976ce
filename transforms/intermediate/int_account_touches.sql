-- int_account_touches: completed tasks and held events of the account team up to $as_of.
-- grain: activity; key: activity_id
create or replace table marts.int_account_touches as

with tasks as (
    select * from staging.stg_tasks
),

events as (
    select * from staging.stg_events
),

users as (
    select * from staging.stg_users
),

unioned as (
    select
        task_id as activity_id,
        'task' as activity_kind,
        account_id,
        who_id as contact_id,
        what_id,
        owner_id,
        coalesce(completed_at, cast(activity_date as timestamptz), created_at) as touched_at,
        subject,
        task_type as activity_type
    from tasks
    -- the pipeline's own owner Tasks are not contact with the customer (it completes them itself when a signal clears)
    where is_completed and risk_task_key is null

    union all

    select
        event_id as activity_id,
        'event' as activity_kind,
        account_id,
        who_id as contact_id,
        what_id,
        owner_id,
        starts_at as touched_at,
        subject,
        event_type as activity_type
    from events
),

final as (
    select
        unioned.*,
        users.user_name as owner_name
    from unioned
    left join users on unioned.owner_id = users.user_id
    where unioned.touched_at <= $as_of
)

select * from final
