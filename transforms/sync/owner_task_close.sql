-- owner_task_close: ledger Tasks still open whose signal has cleared. Policy: the pipeline completes the Task
-- (Status 'Completed') and appends a dated note to its Description, so the owner's list only shows live risks and
-- the Task keeps the history. A signal that still fires but is mitigated (no longer high) keeps its Task open: only
-- a cleared signal closes it, so a signal moving around its mitigation threshold never reopens Tasks. A Task the rep
-- already completed or deleted is only closed in the ledger (crm_state 'completed' / 'deleted'), never touched.
-- grain: task; key: task_key
create or replace view sync.owner_task_close as

with ledger as (
    select * from sync.owner_tasks
    where state = 'open'
),

live as (
    select account_id, signal_id from marts.account_signals
),

crm_tasks as (
    select
        id as task_id,
        description,
        coalesce(_deleted, false) or coalesce(isdeleted, false) as is_deleted,
        coalesce(status = 'Completed', isclosed, false) as is_completed
    from raw.task
),

titles as (
    select signal_id, text_value as title from meta.rules
    where param = 'title'
),

cleared_on as (
    select coalesce(max(computed_at), now()) as at from marts.account_risk
),

final as (
    select
        ledger.task_id as "Id",
        'Completed' as "Status",
        coalesce(crm_tasks.description, ledger.payload ->> 'Description', '') || chr(10) || chr(10)
            || 'Signal cleared on ' || meta.human_date(cleared_on.at) || ': '
            || lower(coalesce(titles.title, replace(ledger.signal_id, '_', ' ')))
            || ' no longer applies, so the relationship-risk model closed this task.' as "Description",
        ledger.task_key,
        ledger.account_id,
        ledger.signal_id,
        case
            when crm_tasks.task_id is null then 'unknown'
            when crm_tasks.is_deleted then 'deleted'
            when crm_tasks.is_completed then 'completed'
            else 'open'
        end as crm_state
    from ledger
    cross join cleared_on
    left join crm_tasks on ledger.task_id = crm_tasks.task_id
    left join titles on ledger.signal_id = titles.signal_id
    where not exists (
        select 1 from live where live.account_id = ledger.account_id and live.signal_id = ledger.signal_id
    )
)

select * from final
order by task_key
