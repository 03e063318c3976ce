-- The Task was completed by us (its signal cleared) or deleted in the CRM meanwhile.
update sync.owner_tasks set state = 'closed', closed_at = now() where task_key = $key
