-- preview/accounts: the Account updates a push would send now (sync.account_push_pending), beside the values the
-- CRM holds as of this run's extract (staging.stg_accounts crm_risk_*) and the account's name. Read only.
-- grain: account; key: Id
with pending as (
    select * from sync.account_push_pending
),

accounts as (
    select * from staging.stg_accounts
),

final as (
    select
        pending.*,
        accounts.account_name,
        accounts.crm_risk_level,
        accounts.crm_risk_score,
        accounts.crm_risk_reasons,
        accounts.crm_risk_trend,
        accounts.crm_risk_model_version
    from pending
    left join accounts on pending."Id" = accounts.account_id
)

select * from final
order by "Id"
