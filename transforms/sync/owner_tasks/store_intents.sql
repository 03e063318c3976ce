-- Log every pending Task as an 'intent' before anything is sent (rows registered as _intents by the caller).
insert or replace into sync.owner_tasks (task_key, account_id, signal_id, episode, state, payload, run_id, intent_at)
select task_key, account_id, signal_id, episode, 'intent', payload, $run_id, now()
from _intents
