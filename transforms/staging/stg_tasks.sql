-- stg_tasks: one row per live task. grain: task; key: task_id
create or replace view staging.stg_tasks as

with source as (
    select * from raw.task
),

final as (
    select
        id as task_id,
        accountid as account_id,
        whatid as what_id,
        whoid as who_id,
        subject,
        type as task_type,
        status,
        coalesce(status = 'Completed', isclosed, false) as is_completed,
        activitydate as activity_date,
        completeddatetime as completed_at,
        -- the activity clock (transforms/README.md): when the call or meeting happened. ActivityDate is its day;
        -- CompletedDateTime says when the Task was marked done, which for a call logged after the fact (by the rep
        -- weeks later, by a capture tool in batches, by a migration) is the day it was saved, not the day it happened
        case
            when activitydate is null then coalesce(completeddatetime, createddate)
            when completeddatetime is null then cast(activitydate as timestamptz)
            -- done within a day of its date (the user's day can be the UTC day before or after it), or before it
            -- (a task completed ahead of its due date happened by then): the exact instant
            when cast(completeddatetime as date) <= activitydate + 1 then completeddatetime
            -- logged later: the day it happened
            else cast(activitydate as timestamptz)
        end as occurred_at,
        ownerid as owner_id,
        risk_task_key__c as risk_task_key,
        createddate as created_at
    from source
    where not coalesce(_deleted, false) and not coalesce(isdeleted, false)
)

select * from final
