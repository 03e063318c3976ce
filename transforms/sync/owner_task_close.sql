-- owner_task_close: open owner Tasks whose signal has cleared. Policy: the Task is completed by the pipeline with
-- a note, so the owner's list only shows live risks (the history stays on the Task). Not pending once a close
-- was pushed for it. grain: task; key: Id
create or replace view sync.owner_task_close as

with open_tasks as (
    select * from staging.stg_tasks
    where risk_task_key is not null and not is_completed
),

live as (
    select account_id || ':' || signal_id as risk_task_key
    from marts.account_signals
    where severity = 'high'
),

closed_already as (
    select record_id
    from sync.push_log
    where object = 'Task' and operation = 'close' and status = 'updated'
),

final as (
    select
        open_tasks.task_id as "Id",
        'Completed' as "Status",
        'Closed by the risk pipeline: the signal cleared. ' || coalesce(open_tasks.subject, '') as "Description",
        open_tasks.risk_task_key as "Risk_Task_Key__c"
    from open_tasks
    where open_tasks.risk_task_key not in (select risk_task_key from live)
        and open_tasks.task_id not in (select record_id from closed_already where record_id is not null)
)

select * from final
