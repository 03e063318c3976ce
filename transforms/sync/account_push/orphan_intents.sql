-- Account intents left without a result by a run that is no longer running (killed, or failed between the send
-- and the log): the next push asks the CRM which of them landed. Intents of a run still running ($busy) are its own.
select run_id, account_id, payload, payload_hash
from sync.account_push_intents
where run_id not in (select unnest($busy::varchar[]))
order by run_id, account_id
