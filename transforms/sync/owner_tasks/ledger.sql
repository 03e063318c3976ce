-- owner_tasks (table definition): the owner-Task ledger, one row per flag episode. key: task_key
-- task_key = Risk_Task_Key__c = '<account id>:<signal id>:<episode>'; the row is written in state 'intent' BEFORE
-- the create is sent, then moved by the result: 'open' (created, task_id known), 'rejected' (dead letter for the
-- episode), 'closed' (the signal cleared and the Task was completed, or the rep had already closed or deleted it),
-- 'dropped' (an intent never confirmed in the CRM whose signal cleared before it was retried).
create table if not exists sync.owner_tasks (
    task_key varchar primary key,
    account_id varchar,
    signal_id varchar,
    episode integer,
    state varchar,
    task_id varchar,
    payload json,
    run_id varchar,
    intent_at timestamptz,
    opened_at timestamptz,
    closed_at timestamptz,
    error_code varchar,
    message varchar
)
