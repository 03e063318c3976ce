-- sig_reneged_deal: an opportunity that reached Closed Won later moved out of it, had its amount reduced or its
-- close date moved (OpportunityHistory), the change within `lookback_days` of $as_of. grain: account; key: account_id
create or replace table marts.sig_reneged_deal as

with history as (
    select * from staging.stg_opportunity_history
    where changed_at <= $as_of
),

opportunities as (
    select * from staging.stg_opportunities
),

won as (
    select
        opportunity_id,
        changed_at as won_at,
        amount as won_amount,
        close_date as won_close_date
    from history
    where stage_name = 'Closed Won'
    qualify row_number() over (partition by opportunity_id order by changed_at, opportunity_history_id) = 1
),

changes as (
    select
        history.opportunity_id,
        history.opportunity_history_id,
        history.changed_at,
        won.won_at,
        won.won_amount,
        won.won_close_date,
        history.stage_name,
        history.amount,
        history.close_date,
        case
            when history.stage_name is distinct from 'Closed Won' then 'reopened'
            when history.amount < won.won_amount * (1 - meta.rule_num('reneged_deal', 'min_amount_drop'))
                then 'reduced'
            when history.close_date is distinct from won.won_close_date then 'close_date_moved'
        end as change_kind
    from history
    inner join won on history.opportunity_id = won.opportunity_id
    where history.changed_at > won.won_at
        and history.changed_at > $as_of - meta.rule_days('reneged_deal', 'lookback_days')
),

first_change as (
    select
        changes.*,
        opportunities.account_id,
        opportunities.opportunity_name
    from changes
    inner join opportunities on changes.opportunity_id = opportunities.opportunity_id
    where changes.change_kind is not null
    qualify row_number() over (partition by changes.opportunity_id order by changes.changed_at) = 1
),

described as (
    select
        *,
        -- the win is dated by its CloseDate (the business date), not by when the stage change was saved
        '''' || opportunity_name || ''' was won on ' || meta.human_date(coalesce(won_close_date, won_at)) || ', then '
            || case change_kind
                when 'reopened' then 'moved back to ' || coalesce(stage_name, 'an open stage')
                when 'reduced' then 'reduced by ' || cast(round(100 * (1 - amount / won_amount)) as bigint) || '%'
                else 'its close date moved from ' || meta.human_date(won_close_date) || ' to '
                    || meta.human_date(close_date)
            end
            || ' on ' || meta.human_date(changed_at) || '.' as sentence
    from first_change
),

final as (
    select
        account_id,
        'reneged_deal' as signal_id,
        to_json({
            'opportunity_ids': list(opportunity_id order by changed_at desc),
            'opportunity_names': list(opportunity_name order by changed_at desc),
            'changes': list({'opportunity_id': opportunity_id, 'kind': change_kind, 'won_at': won_at,
                'changed_at': changed_at, 'won_amount': won_amount, 'amount': amount, 'stage': stage_name}
                order by changed_at desc),
            'count': count(*)
        }) as evidence,
        arg_max(sentence, changed_at)
            || case when count(*) > 1 then ' ' || (count(*) - 1) || ' more deal(s) changed after being won.' else '' end
            as reason
    from described
    group by account_id
)

select * from final
