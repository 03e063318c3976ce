-- preview/task_creates: the owner Tasks a push would create now (sync.owner_task_pending), with the account's name.
-- Read only: the push itself stores them as ledger intents first; a preview stores nothing.
-- grain: task; key: Risk_Task_Key__c
with pending as (
    select * from sync.owner_task_pending
),

accounts as (
    select * from staging.stg_accounts
),

final as (
    select
        pending.account_id,
        accounts.account_name,
        pending."Risk_Task_Key__c" as task_key,
        pending."Subject" as subject
    from pending
    left join accounts on pending.account_id = accounts.account_id
)

select * from final
order by task_key
