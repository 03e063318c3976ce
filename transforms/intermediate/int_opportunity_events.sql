-- int_opportunity_events: what happened to each account's opportunities up to $as_of (opened, closed, changed),
-- for marts.account_timeline (a view: the as-of filters on the CRM's live opportunity rows live here, in a table a
-- refresh replaces by account). grain: opportunity happening; key: (event_kind, record_id)
create or replace table marts.int_opportunity_events as

with opportunities as (
    select * from staging.stg_opportunities
),

opportunity_history as (
    select * from staging.stg_opportunity_history
),

unioned as (
    select account_id, created_at as occurred_at, 'opportunity_opened' as event_kind, opportunity_id as record_id,
        opportunity_name as label, concat_ws(' / ', opportunity_type, stage_name) as detail, owner_id as actor_id
    from opportunities
    where created_at <= $as_of

    union all

    select account_id, cast(close_date as timestamptz), 'opportunity_closed', opportunity_id, opportunity_name,
        stage_name, owner_id
    from opportunities
    where is_closed and cast(close_date as timestamptz) <= $as_of

    union all

    select opportunities.account_id, opportunity_history.changed_at, 'opportunity_changed',
        opportunity_history.opportunity_history_id, opportunities.opportunity_name,
        concat_ws(' / ', opportunity_history.stage_name, 'amount ' || opportunity_history.amount,
            'close ' || opportunity_history.close_date), null
    from opportunity_history
    inner join opportunities on opportunity_history.opportunity_id = opportunities.opportunity_id
    where opportunity_history.changed_at <= $as_of
),

final as (
    select * from unioned
)

select * from final
