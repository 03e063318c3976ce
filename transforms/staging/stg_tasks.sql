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
        ownerid as owner_id,
        risk_task_key__c as risk_task_key,
        createddate as created_at
    from source
    where not coalesce(_deleted, false) and not coalesce(isdeleted, false)
)

select * from final
