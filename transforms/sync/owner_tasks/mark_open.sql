-- A Task exists in the CRM under this key (created now, or found by its key after a crash).
update sync.owner_tasks
set state = 'open', task_id = $id, opened_at = $now, run_id = $run_id, error_code = null, message = null
where task_key = $key
