-- account_signals: one row per customer account and fired signal, with severity, points and action from the
-- rules, the evidence (record ids, dates, counts) and the sentence the rep reads. key: (account_id, signal_id)
-- A signal's SQL may add a `mitigated` column: a mitigated firing takes the rules' `mitigated_severity`.
create or replace table marts.account_signals as

with fired as (
    select * from marts.sig_repeat_issue
    union all by name select * from marts.sig_no_follow_up_after_fix
    union all by name select * from marts.sig_missed_customer_yardstick
    union all by name select * from marts.sig_escalation_load
    union all by name select * from marts.sig_aging_open_cases
    union all by name select * from marts.sig_reneged_deal
    union all by name select * from marts.sig_champion_gone
    union all by name select * from marts.sig_renewal_only_contact
    union all by name select * from marts.sig_owner_changed
    union all by name select * from marts.sig_single_threaded
    union all by name select * from marts.sig_case_spike
    union all by name select * from marts.sig_broken_promise_after_sale
    union all by name select * from marts.sig_no_business_review
    union all by name select * from marts.sig_oversell_complaint
    union all by name select * from marts.sig_service_inconsistency
    union all by name select * from marts.sig_existing_client_neglect
    union all by name select * from marts.sig_expansion_ready
),

catalog as (
    select * from meta.signal_catalog
    where enabled
),

accounts as (
    select * from marts.int_account_sales_history
    where is_customer
),

graded as (
    select
        fired.*,
        catalog.points,
        catalog.action,
        case
            when fired.mitigated then coalesce(catalog.mitigated_severity, catalog.severity)
            else catalog.severity
        end as severity
    from fired
    inner join catalog on fired.signal_id = catalog.signal_id
),

risky_accounts as (
    select distinct account_id
    from graded
    where severity in ('high', 'medium')
),

final as (
    select
        graded.account_id,
        graded.signal_id,
        graded.severity,
        graded.points,
        cast(graded.evidence as json) as evidence,
        graded.reason,
        graded.action,
        cast($as_of as timestamptz) as as_of
    from graded
    inner join accounts on graded.account_id = accounts.account_id
    -- a positive signal next to a real risk would mislead the rep
    where graded.severity <> 'positive' or graded.account_id not in (select account_id from risky_accounts)
)

select * from final
