-- account_risk_history (append): this run's account_risk rows; rerunning a run_id replaces its rows.
insert or replace into marts.account_risk_history
select
    account_id,
    level,
    score,
    reasons,
    trend,
    computed_at,
    model_version,
    $run_id as run_id,
    computed_at as as_of,
    now() as recorded_at
from marts.account_risk
