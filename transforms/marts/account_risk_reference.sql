-- account_risk_reference: per account, the level and score the trend compares with: what the CRM showed the owner
-- [risk] trend_reference_days before $as_of (the last accepted push computed by then), or, when nothing we told is
-- that old, the first value we told. Only values the CRM accepted count (sync.push_log Account rows with status
-- 'updated', the ones reconciled after a crash included): a run that was stopped, partial, --no-push or a dry run
-- pushed nothing, so it is never a reference. The value the CRM showed before our first logged update of an
-- Account counts too, as told at its Risk_Computed_At__c: logged by that push ('observed', a new or rebuilt warehouse
-- against flagged Accounts), or read from the CRM's copy while the log has nothing of the Account. A push is dated
-- by the Risk_Computed_At__c it carried (the org's clock, as $as_of), not by when it was sent.
-- grain: account; key: account_id
create or replace table marts.account_risk_reference as

with pushed as (
    select
        record_id as account_id,
        payload ->> 'Risk_Level__c' as level,
        try_cast(payload ->> 'Risk_Score__c' as double) as score,
        try_cast(payload ->> 'Risk_Computed_At__c' as timestamptz) as told_at
    from sync.push_log
    where object = 'Account' and status in ('updated', 'observed') and payload ->> 'Risk_Level__c' is not null
),

crm as (
    select
        account_id,
        crm_risk_level as level,
        crm_risk_score as score,
        coalesce(crm_risk_computed_at, timestamptz '1970-01-01 00:00:00+00') as told_at
    from staging.stg_accounts
    where crm_risk_level is not null
        and account_id not in (select account_id from pushed)
),

-- told before the as-of: a push computed as of this instant (this run's, scored again) is what the trend is about
told as (
    select * from pushed where told_at < $as_of
    union all
    select * from crm where told_at < $as_of
),

ranked as (
    select
        *,
        told_at <= $as_of - to_days(cast(meta.rule_num('risk', 'trend_reference_days') as integer)) as old_enough
    from told
),

final as (
    select account_id, level, score, told_at as reference_at
    from ranked
    -- the latest value old enough; else the earliest told
    qualify row_number() over (
        partition by account_id
        order by old_enough desc, case when old_enough then told_at end desc, told_at
    ) = 1
)

select * from final
