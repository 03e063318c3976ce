-- Tasks completed by us (their signal cleared) or deleted in the CRM meanwhile: `_task_marks(task_key)`.
update sync.owner_tasks set state = 'closed', closed_at = now()
where task_key in (select task_key from _task_marks)
