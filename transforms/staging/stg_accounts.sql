-- stg_accounts: one row per live account (tombstones excluded). grain: account; key: account_id
create or replace view staging.stg_accounts as

with source as (
    select * from raw.account
),

final as (
    select
        id as account_id,
        name as account_name,
        type as account_type,
        coalesce(type like 'Customer%', false) as is_customer,
        industry,
        ownerid as owner_id,
        parentid as parent_account_id,
        cast(expected_resolution_days__c as double) as expected_resolution_days,
        coalesce(key_account__c, false) as is_key_account,
        risk_level__c as crm_risk_level,
        risk_score__c as crm_risk_score,
        risk_reasons__c as crm_risk_reasons,
        risk_trend__c as crm_risk_trend,
        risk_model_version__c as crm_risk_model_version,
        risk_computed_at__c as crm_risk_computed_at,
        createddate as created_at,
        systemmodstamp as modified_at
    from source
    where not coalesce(_deleted, false) and not coalesce(isdeleted, false)
)

select * from final
