-- owner_task_pending: the Tasks to create now, one per (account, high-severity signal) without a live Task.
-- A pair is covered while the ledger (sync.owner_tasks) holds it as 'intent' or 'open', or while the CRM holds an
-- open Task with its key that the ledger does not know yet (adopted by the push step, not re-created). A create the
-- CRM rejected is a dead letter until its Task would read differently (owner, subject or description changed): then
-- it is sent again under the same key. A new episode (the signal fired again after its Task was closed) gets the
-- next episode number, so its key is new.
-- grain: (account, signal); key: Risk_Task_Key__c
create or replace view sync.owner_task_pending as

with signals as (
    select * from marts.account_signals
    where severity = 'high'
),

accounts as (
    select * from staging.stg_accounts
    where is_customer and owner_id is not null
),

-- read meta.rules directly, not the rule macros: those read session variables set only while the transforms run,
-- and this view is read later by the push step
titles as (
    select signal_id, text_value as title from meta.rules
    where param = 'title'
),

model as (
    select text_value as version from meta.rules
    where signal_id = 'model' and param = 'version'
),

crm_keys as (
    select
        split_part(risk_task_key, ':', 1) as account_id,
        split_part(risk_task_key, ':', 2) as signal_id,
        coalesce(try_cast(split_part(risk_task_key, ':', 3) as integer), 1) as episode,
        is_completed
    from staging.stg_tasks
    where risk_task_key is not null
),

ledger as (
    select * from sync.owner_tasks
),

covered as (
    select account_id, signal_id from ledger where state in ('intent', 'open')
    union
    select account_id, signal_id from crm_keys where not is_completed
),

rejected as (
    select account_id, signal_id, payload from ledger
    where state = 'rejected'
),

-- a rejected create never reached the CRM: its episode is still the one to (re)send
episodes as (
    select account_id, signal_id, max(episode) as last_episode
    from (
        select account_id, signal_id, episode from ledger where state != 'rejected'
        union all
        select account_id, signal_id, episode from crm_keys
    )
    group by all
),

final as (
    select
        signals.account_id || ':' || signals.signal_id || ':'
            || (coalesce(episodes.last_episode, 0) + 1) as "Risk_Task_Key__c",
        signals.account_id as "WhatId",
        accounts.owner_id as "OwnerId",
        left('Relationship risk at ' || accounts.account_name || ': '
            || coalesce(titles.title, replace(signals.signal_id, '_', ' ')), 255) as "Subject",
        -- what the rep reads: the sentence (dates, counts, case numbers) and the action; record ids stay in
        -- marts.account_signals.evidence
        signals.reason || chr(10) || chr(10) || 'Suggested action: ' || signals.action || chr(10) || chr(10)
            || 'Flagged on ' || meta.human_date(signals.as_of) || ' by the relationship-risk model '
            || model.version || '.' as "Description",
        cast(signals.as_of as date) + 7 as "ActivityDate",
        'Not Started' as "Status",
        'High' as "Priority",
        signals.account_id as account_id,
        signals.signal_id as signal_id,
        coalesce(episodes.last_episode, 0) + 1 as episode
    from signals
    cross join model
    inner join accounts on signals.account_id = accounts.account_id
    left join titles on signals.signal_id = titles.signal_id
    left join episodes on signals.account_id = episodes.account_id and signals.signal_id = episodes.signal_id
    where not exists (
        select 1 from covered
        where covered.account_id = signals.account_id and covered.signal_id = signals.signal_id
    )
),

unchanged_dead_letters as (
    select final.account_id, final.signal_id
    from final
    inner join rejected on final.account_id = rejected.account_id and final.signal_id = rejected.signal_id
    where rejected.payload ->> 'OwnerId' = final."OwnerId"
        and rejected.payload ->> 'Subject' = final."Subject"
        -- the text without its 'Flagged on <date>' line, which moves every night
        and split_part(rejected.payload ->> 'Description', chr(10) || chr(10) || 'Flagged on ', 1)
            = split_part(final."Description", chr(10) || chr(10) || 'Flagged on ', 1)
)

select * from final
where not exists (
    select 1 from unchanged_dead_letters d
    where d.account_id = final.account_id and d.signal_id = final.signal_id
)
order by "Risk_Task_Key__c"
