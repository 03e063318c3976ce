-- preview/task_closes: the open owner Tasks a push would complete now because their signal cleared
-- (sync.owner_task_close; Tasks the rep completed or deleted are left alone, as the push does). Read only.
-- grain: task; key: task_key
with closing as (
    select * from sync.owner_task_close
    where crm_state in ('open', 'unknown')
),

ledger as (
    select * from sync.owner_tasks
),

accounts as (
    select * from staging.stg_accounts
),

final as (
    select
        closing.account_id,
        accounts.account_name,
        closing.task_key,
        ledger.payload ->> 'Subject' as subject
    from closing
    left join ledger on closing.task_key = ledger.task_key
    left join accounts on closing.account_id = accounts.account_id
)

select * from final
order by task_key
