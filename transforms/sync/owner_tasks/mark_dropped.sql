-- Intents that never reached the CRM and whose signal no longer fires: `_task_marks(task_key)`.
update sync.owner_tasks set state = 'dropped', closed_at = now()
where task_key in (select task_key from _task_marks)
