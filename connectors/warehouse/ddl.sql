-- The warehouse's bookkeeping tables (meta.*, sync.*), created if missing by connect.ensure_schemas (idempotent).
create table if not exists meta.watermarks (
    object varchar primary key, cursor_field varchar, watermark timestamptz, updated_at timestamptz, run_id varchar
);
create table if not exists meta.runs (
    run_id varchar primary key, flow varchar, started_at timestamptz, finished_at timestamptz, status varchar,
    counts json, api_calls bigint, message varchar
);
create table if not exists meta.quarantine (
    run_id varchar, object varchar, record_id varchar, failed json, record json, quarantined_at timestamptz
);
alter table meta.quarantine add column if not exists resolved_run_id varchar;
alter table meta.quarantine add column if not exists resolution varchar;
create or replace view meta.quarantine_open as
    select * from meta.quarantine where resolved_run_id is null;
create table if not exists meta.reconciliation (
    run_id varchar, object varchar, extracted bigint, loaded bigint, quarantined bigint, tombstones bigint,
    reconciled_at timestamptz, primary key (run_id, object)
);
create table if not exists sync.push_log (
    run_id varchar, object varchar, record_id varchar, operation varchar, payload json, payload_hash varchar,
    status varchar, error_code varchar, message varchar, "at" timestamptz
);
create table if not exists sync.account_push_state (
    account_id varchar primary key, payload json, payload_hash varchar, pushed_at timestamptz, run_id varchar,
    dead_hash varchar, dead_error_code varchar, dead_message varchar, dead_at timestamptz
);
-- the process owning a running run (host, `<pid>:<start ticks>`): a row whose process is gone is closed as 'died'
alter table meta.runs add column if not exists host varchar;
alter table meta.runs add column if not exists process varchar;
-- a rejected Account value is sent again after dead_retry_at (null: never, the cap is reached) or once it changes
alter table sync.account_push_state add column if not exists dead_attempts integer;
alter table sync.account_push_state add column if not exists dead_retry_at timestamptz;
-- Account updates about to be sent, committed before the send; removed with the results' log, in one transaction.
-- Rows of a run that died are reconciled with the CRM's values by the next push (pipeline/push.py).
create table if not exists sync.account_push_intents (
    run_id varchar, account_id varchar, payload json, payload_hash varchar, intent_at timestamptz,
    primary key (run_id, account_id)
);
alter table sync.account_push_state add column if not exists dead_modstamp timestamptz;
-- a backfill's windows once loaded (written in the window's load transaction): a rerun with the same arguments
-- (the same backfill_key) skips them and resumes (docs/backfill.md)
create table if not exists meta.backfill_windows (
    backfill_key varchar, object varchar, window_start timestamptz, window_end timestamptz, rows bigint,
    run_id varchar, completed_at timestamptz, primary key (backfill_key, object, window_start)
);
