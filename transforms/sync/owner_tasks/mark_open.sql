-- Tasks that exist in the CRM under these keys (created now, or found by their key after a crash):
-- `_task_marks(task_key, task_id)`, one row per key.
update sync.owner_tasks as t
set state = 'open', task_id = m.task_id, opened_at = $now, run_id = $run_id, error_code = null, message = null
from _task_marks as m
where t.task_key = m.task_key
