-- A create the CRM refused ('rejected': a dead letter) or did not take ('intent': sent again by the next run).
update sync.owner_tasks
set state = $state, error_code = $code, message = $msg
where task_key = $key
