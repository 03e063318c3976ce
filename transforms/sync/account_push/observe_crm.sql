-- Before the first update of an Account that our push log has never seen, log the value the CRM shows now (status
-- 'observed', operation 'observe'; no CRM write): the trend's reference keeps what the rep saw before our first
-- logged push (a new or rebuilt warehouse against an org whose Accounts already carry flags).
insert into sync.push_log (run_id, object, record_id, operation, payload, payload_hash, status, message, "at")
select
    $run_id,
    'Account',
    accounts.account_id,
    'observe',
    json_object(
        'Id', accounts.account_id,
        'Risk_Level__c', accounts.crm_risk_level,
        'Risk_Score__c', accounts.crm_risk_score,
        'Risk_Trend__c', accounts.crm_risk_trend,
        'Risk_Computed_At__c', accounts.crm_risk_computed_at,
        'Risk_Model_Version__c', accounts.crm_risk_model_version
    ),
    null,
    'observed',
    'the CRM value before our first logged update',
    now()
from staging.stg_accounts as accounts
where accounts.account_id in (select unnest($ids::varchar[]))
    and accounts.crm_risk_level is not null
    and not exists (
        select 1 from sync.push_log as l
        where l.object = 'Account' and l.record_id = accounts.account_id and l.status in ('updated', 'observed')
    )
