-- An intent that never reached the CRM and whose signal no longer fires.
update sync.owner_tasks set state = 'dropped', closed_at = now() where task_key = $key
