-- account_risk_history (table definition): account_risk appended per run. key: (run_id, account_id)
create table if not exists marts.account_risk_history (
    account_id varchar,
    level varchar,
    score double,
    reasons varchar,
    trend varchar,
    computed_at timestamptz,
    model_version varchar,
    run_id varchar,
    as_of timestamptz,
    recorded_at timestamptz,
    primary key (run_id, account_id)
)
