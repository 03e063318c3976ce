-- Episodes that end without a CRM write: a rejected create whose signal cleared, and Tasks the rep already
-- completed or deleted (left alone in the CRM).
update sync.owner_tasks
set state = 'closed', closed_at = now()
where (
        state = 'rejected'
        and not exists (
            select 1
            from marts.account_signals s
            where s.severity = 'high'
                and s.account_id = owner_tasks.account_id
                and s.signal_id = owner_tasks.signal_id
        )
    )
    or task_key in (select task_key from sync.owner_task_close where crm_state in ('completed', 'deleted'))
