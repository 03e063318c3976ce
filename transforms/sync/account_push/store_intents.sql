-- Log every Account update about to be sent as an intent, committed before the send (rows registered as
-- _intents by the caller: Id, payload, payload_hash). Removed in the transaction that logs the update's result.
insert or replace into sync.account_push_intents (run_id, account_id, payload, payload_hash, intent_at)
select $run_id, "Id", payload, payload_hash, now()
from _intents
