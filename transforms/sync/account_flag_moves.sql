-- account_flag_moves: the pending Account updates (sync.account_push_pending) that move the account's level, from
-- the level last pushed successfully (sync.account_push_state) or, before any push, the CRM's own value, to the level
-- about to be pushed. No level counts as Green (no flag), so a first push of Green is not a move. The push step reads
-- it before sending and keeps the rows whose update the CRM accepted: they become the crm.risk.flag.* events.
-- grain: account; key: account_id
create or replace view sync.account_flag_moves as

with pending as (
    select * from sync.account_push_pending
),

risk as (
    select * from marts.account_risk
),

accounts as (
    select * from staging.stg_accounts
),

push_state as (
    select * from sync.account_push_state
),

moves as (
    select
        pending."Id" as account_id,
        accounts.account_name,
        accounts.is_key_account,
        pending."Risk_Level__c" as level,
        coalesce(json_extract_string(push_state.payload, '$.Risk_Level__c'), accounts.crm_risk_level)
            as previous_level,
        pending."Risk_Score__c" as score,
        risk.reason_list as reasons,
        pending."Risk_Model_Version__c" as model_version
    from pending
    inner join accounts on pending."Id" = accounts.account_id
    inner join risk on pending."Id" = risk.account_id
    left join push_state on pending."Id" = push_state.account_id
),

final as (
    select * from moves
    where level is distinct from coalesce(previous_level, 'Green')
)

select * from final
