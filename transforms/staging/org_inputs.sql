-- org_inputs: what the whole org holds of the optional inputs some signals need at all (one row). A signal
-- that would read every account as silent when the org has none of its input is not scored instead.
-- scope: org (an account refresh scores some accounts only: it keeps this row from the last full run)
create or replace table staging.org_inputs as

select
    exists (select 1 from staging.stg_contacts) as has_contacts,
    exists (
        select 1 from staging.stg_events
        -- entered by $as_of (the activity clock: a backtest does not know of events saved later)
        where event_type = meta.rule_text('inputs', 'business_review_event_type') and created_at <= $as_of
    ) as has_business_reviews
