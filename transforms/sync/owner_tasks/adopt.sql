-- Adopt open CRM Tasks carrying our key that the ledger does not know (e.g. a rebuilt warehouse): never create them
-- again. Grain: one ledger row per task_key. Returns the adopted keys.
insert into sync.owner_tasks (task_key, account_id, signal_id, episode, state, task_id, run_id, opened_at)
select
    risk_task_key,
    split_part(risk_task_key, ':', 1),
    split_part(risk_task_key, ':', 2),
    coalesce(try_cast(split_part(risk_task_key, ':', 3) as integer), 1),
    'open',
    task_id,
    $run_id,
    now()
from staging.stg_tasks
where risk_task_key is not null
    and not is_completed
    and risk_task_key not in (select task_key from sync.owner_tasks)
returning task_key
