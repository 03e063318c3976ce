-- int_account_touches: completed tasks and held events of the account team up to $as_of, each at the time it
-- happened (int_activities: the activity clock), never at the time it was logged. grain: activity; key: activity_id
create or replace view marts.int_account_touches as

with activities as (
    select * from marts.int_activities
),

users as (
    select * from staging.stg_users
),

final as (
    select
        activities.activity_id,
        activities.activity_kind,
        activities.account_id,
        activities.contact_id,
        activities.what_id,
        activities.owner_id,
        activities.occurred_at as touched_at,
        activities.recorded_at,
        activities.subject,
        activities.activity_type,
        users.user_name as owner_name
    from activities
    left join users on activities.owner_id = users.user_id
    where activities.is_touch
)

select * from final
