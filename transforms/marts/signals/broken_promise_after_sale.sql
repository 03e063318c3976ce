-- sig_broken_promise_after_sale: escalated or high-priority cases within `after_win_days` after a closed-won
-- opportunity that closed in the last `lookback_days`. grain: account; key: account_id
create or replace table marts.sig_broken_promise_after_sale as

with wins as (
    select * from staging.stg_opportunities
    where is_won
        and close_date <= cast($as_of as date)
        and close_date > cast($as_of - meta.rule_days('broken_promise_after_sale', 'lookback_days') as date)
),

cases as (
    select * from marts.int_cases
    where is_urgent
),

hits as (
    select
        wins.account_id,
        wins.opportunity_id,
        wins.opportunity_name,
        wins.close_date,
        count(*) as case_count,
        list(cases.case_number order by cases.created_at) as case_numbers,
        list(cases.case_id order by cases.created_at) as case_ids
    from wins
    inner join cases
        on wins.account_id = cases.account_id
        and cases.created_at >= cast(wins.close_date as timestamptz)
        and cases.created_at < cast(wins.close_date as timestamptz)
            + meta.rule_days('broken_promise_after_sale', 'after_win_days')
    group by wins.account_id, wins.opportunity_id, wins.opportunity_name, wins.close_date
    having count(*) >= meta.rule_num('broken_promise_after_sale', 'min_count')
    qualify row_number() over (partition by wins.account_id order by wins.close_date desc, wins.opportunity_id) = 1
),

final as (
    select
        account_id,
        'broken_promise_after_sale' as signal_id,
        to_json({'opportunity_id': opportunity_id, 'opportunity_name': opportunity_name, 'won_on': close_date,
            'case_ids': case_ids, 'case_numbers': case_numbers, 'case_count': case_count}) as evidence,
        case_count || case when case_count = 1 then ' urgent case' else ' urgent cases' end || ' within '
            || meta.human_num(meta.rule_num('broken_promise_after_sale', 'after_win_days')) || ' days of winning '''
            || opportunity_name || ''' (closed ' || meta.human_date(close_date) || ').' as reason
    from hits
)

select * from final
