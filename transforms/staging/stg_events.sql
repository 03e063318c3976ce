-- stg_events: one row per live event (meetings, calls, business reviews, service visits). key: event_id
create or replace view staging.stg_events as

with source as (
    select * from raw.event
),

final as (
    select
        id as event_id,
        accountid as account_id,
        whatid as what_id,
        whoid as who_id,
        subject,
        type as event_type,
        coalesce(startdatetime, activitydatetime, cast(activitydate as timestamptz)) as starts_at,
        ownerid as owner_id,
        createddate as created_at
    from source
    where not coalesce(_deleted, false) and not coalesce(isdeleted, false)
)

select * from final
