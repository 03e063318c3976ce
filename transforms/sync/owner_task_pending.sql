-- owner_task_pending: one Task to create for the account owner per (account, high-severity signal), keyed by
-- Risk_Task_Key__c = '<account id>:<signal id>' (the connector upserts on it, so a rerun never duplicates).
-- Not pending once a Task with that key exists in the CRM (open or completed: one Task per flag episode) or was
-- created by an earlier push whose Task has not been extracted yet. grain: (account, signal); key: Risk_Task_Key__c
create or replace view sync.owner_task_pending as

with signals as (
    select * from marts.account_signals
    where severity = 'high'
),

accounts as (
    select * from staging.stg_accounts
    where is_customer
),

existing_tasks as (
    select risk_task_key from staging.stg_tasks
    where risk_task_key is not null
),

pushed as (
    select payload ->> 'Risk_Task_Key__c' as risk_task_key
    from sync.push_log
    where object = 'Task' and operation = 'create' and status in ('created', 'updated')
),

final as (
    select
        signals.account_id || ':' || signals.signal_id as "Risk_Task_Key__c",
        signals.account_id as "WhatId",
        accounts.owner_id as "OwnerId",
        left('Relationship risk: ' || signals.action, 255) as "Subject",
        -- what the rep reads: the sentence and the action (record ids stay in marts.account_signals.evidence)
        signals.reason || chr(10) || chr(10) || 'Suggested action: ' || signals.action || chr(10) || chr(10)
            || 'Flagged on ' || meta.human_date(signals.as_of) || ' by the relationship-risk model.' as "Description",
        cast(signals.as_of as date) + 7 as "ActivityDate",
        'Not Started' as "Status",
        'High' as "Priority",
        signals.signal_id
    from signals
    inner join accounts on signals.account_id = accounts.account_id
    where signals.account_id || ':' || signals.signal_id not in (select risk_task_key from existing_tasks)
        and signals.account_id || ':' || signals.signal_id not in (
            select risk_task_key from pushed where risk_task_key is not null
        )
)

select * from final
