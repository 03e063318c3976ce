-- Creates the CRM refused ('rejected': a dead letter) or did not take ('intent': sent again by the next run):
-- `_task_marks(task_key, state, error_code, message)`, one row per key.
update sync.owner_tasks as t
set state = m.state, error_code = m.error_code, message = m.message
from _task_marks as m
where t.task_key = m.task_key
