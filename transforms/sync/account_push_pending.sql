-- account_push_pending: Account field values to write back, only where the pushed values (computed-at excluded)
-- differ from the last successful push (or, before any push, from what the CRM already holds) and are not
-- dead-lettered with the same hash (a rejected value goes again after CRM_RISK_PUSH_REJECTED_RETRY_HOURS, at most
-- CRM_RISK_PUSH_REJECTED_MAX_ATTEMPTS sends, or once the Account is edited). Live customer accounts only; cleared
-- flags (back to Green) are included; an account whose level rests on signals not scored yet
-- (marts.account_risk.push_held_for) waits.
-- grain: account; key: Id
create or replace view sync.account_push_pending as

with risk as (
    select * from marts.account_risk
    where push_held_for is null
),

accounts as (
    select * from staging.stg_accounts
    where is_customer
),

push_state as (
    select * from sync.account_push_state
),

payload as (
    select
        risk.account_id as "Id",
        risk.level as "Risk_Level__c",
        risk.score as "Risk_Score__c",
        risk.reasons as "Risk_Reasons__c",
        risk.trend as "Risk_Trend__c",
        risk.computed_at as "Risk_Computed_At__c",
        risk.model_version as "Risk_Model_Version__c",
        meta.risk_payload_hash(risk.level, risk.score, risk.reasons, risk.trend, risk.model_version) as payload_hash,
        case
            when accounts.crm_risk_level is not null
                then meta.risk_payload_hash(accounts.crm_risk_level, accounts.crm_risk_score,
                    accounts.crm_risk_reasons, accounts.crm_risk_trend, accounts.crm_risk_model_version)
        end as crm_hash,
        accounts.modified_at
    from risk
    inner join accounts on risk.account_id = accounts.account_id
),

-- a value the CRM rejected waits, unless it is due again (dead_retry_at passed; null: the cap is reached) or
-- someone edited the Account since (e.g. fixed what the validation rule checks)
final as (
    select payload.* exclude (crm_hash, modified_at)
    from payload
    left join push_state on payload."Id" = push_state.account_id
    where payload.payload_hash is distinct from coalesce(push_state.payload_hash, payload.crm_hash)
        and not (
            payload.payload_hash is not distinct from push_state.dead_hash
            and coalesce(push_state.dead_retry_at > now(), true)
            and not coalesce(payload.modified_at > push_state.dead_modstamp, false)
        )
)

select * from final
