-- signal_coverage: per signal, whether it could be scored in this org as of $as_of (every object it reads was
-- loaded at least once, and its optional input has values) and on how many customer accounts; "not_scored" is
-- reported, never shown as green. key: signal_id
create or replace table marts.signal_coverage as

with catalog as (
    select * from meta.signal_catalog
),

accounts as (
    select staging_accounts.*
    from staging.stg_accounts as staging_accounts
    inner join marts.int_account_sales_history as sales on staging_accounts.account_id = sales.account_id
    where sales.is_customer
),

events as (
    -- the events the org held at $as_of (a backtest does not know of events created later)
    select activity_id as event_id, account_id, activity_type as event_type
    from marts.int_activities
    where activity_kind = 'event'
),

unloaded as (
    select signal_id, list(object order by object) as missing_objects
    from meta.signal_inputs
    where not loaded
    group by 1
),

fired as (
    select signal_id, count(*) as accounts_fired
    from marts.account_signals
    group by 1
),

inputs as (
    select
        'missed_customer_yardstick' as signal_id,
        count(*) filter (where expected_resolution_days is not null) as accounts_with_input,
        'no account has a value in ' || meta.rule_text('inputs', 'expected_resolution_field') as missing_reason
    from accounts

    union all

    select
        'no_business_review',
        count(distinct account_id) filter (where event_type = meta.rule_text('inputs', 'business_review_event_type')),
        'no Event of type ''' || meta.rule_text('inputs', 'business_review_event_type') || ''' in the org'
    from events

    union all

    select
        'oversell_complaint',
        count(distinct account_id) filter (where event_type = meta.rule_text('inputs', 'service_visit_event_type')),
        'no Event of type ''' || meta.rule_text('inputs', 'service_visit_event_type') || ''' in the org'
    from events

    union all

    select 'reneged_deal', count(distinct opportunity_id), 'no OpportunityHistory rows (field history not loaded)'
    from staging.stg_opportunity_history

    union all

    select 'owner_changed', count(*), 'no AccountHistory rows (account field history not tracked or not loaded)'
    from staging.stg_account_history

    union all

    select
        'expansion_ready',
        count(distinct account_id) filter (where csat is not null),
        'no Case has a value in ' || meta.rule_text('inputs', 'csat_field')
    from marts.int_cases

    union all

    select 'champion_gone', count(*), 'no Contact rows in the org'
    from staging.stg_contacts

    union all

    select 'single_threaded', count(*), 'no Contact rows in the org'
    from staging.stg_contacts
),

final as (
    select
        catalog.signal_id,
        case
            when not catalog.enabled then 'disabled'
            when unloaded.signal_id is not null then 'not_scored'
            when coalesce(inputs.accounts_with_input, 1) = 0 then 'not_scored'
            else 'scored'
        end as status,
        case
            when unloaded.signal_id is not null
                then array_to_string(unloaded.missing_objects, ', ') || ' never loaded: a sync of '
                    || case when len(unloaded.missing_objects) = 1 then 'it' else 'them' end || ' scores this signal'
            when coalesce(inputs.accounts_with_input, 1) = 0 then inputs.missing_reason
        end as reason,
        coalesce(unloaded.missing_objects, []::varchar[]) as missing_objects,
        (select count(*) from accounts) as accounts_evaluated,
        case
            when unloaded.signal_id is not null then (select count(*) from accounts)
            when catalog.signal_id = 'missed_customer_yardstick'
                then (select count(*) from accounts where expected_resolution_days is null)
            when coalesce(inputs.accounts_with_input, 1) = 0 then (select count(*) from accounts)
            else 0
        end as accounts_not_scored,
        coalesce(fired.accounts_fired, 0) as accounts_fired,
        cast($as_of as timestamptz) as as_of
    from catalog
    left join inputs on catalog.signal_id = inputs.signal_id
    left join fired on catalog.signal_id = fired.signal_id
    left join unloaded on catalog.signal_id = unloaded.signal_id
)

select * from final
