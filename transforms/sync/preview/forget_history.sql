-- preview/forget_history: a dry run's scores leave the risk history once its preview is built, so the next real
-- run's trend compares with the last real run (not with the dry run) and it pushes the trend the preview listed.
delete from marts.account_risk_history
where run_id = $run_id
