-- sig_case_spike: cases in the last `recent_days` above `factor` times the usual rate of the `baseline_days`
-- before, with at least `min_cases`. The usual rate counts only the part of that baseline the account's service
-- history covers (since its first win; since it was added when no win is on record; earlier when a case came
-- first); an account with less than `recent_days` of it (a new customer) has no usual rate and does not fire: a
-- rise needs something to rise from. grain: account; key: account_id
create or replace table marts.sig_case_spike as

with cases as (
    select * from marts.int_cases
),

accounts as (
    select * from staging.stg_accounts
),

sales as (
    select * from marts.int_account_sales_history
),

per_account as (
    select
        account_id,
        count(*) filter (where created_at > $as_of - meta.rule_days('case_spike', 'recent_days')) as recent_count,
        count(*) filter (
            where created_at <= $as_of - meta.rule_days('case_spike', 'recent_days')
                and created_at > $as_of - meta.rule_days('case_spike', 'recent_days')
                    - meta.rule_days('case_spike', 'baseline_days')
        ) as baseline_count,
        list(case_number order by created_at) filter (
            where created_at > $as_of - meta.rule_days('case_spike', 'recent_days')
        ) as recent_case_numbers,
        min(created_at) as first_case_at
    from cases
    group by 1
),

history as (
    select
        per_account.*,
        -- the months before the first win (a prospect then) say nothing of the usual service load
        least(coalesce(cast(sales.first_won_date as timestamptz), accounts.created_at), per_account.first_case_at)
            as history_start
    from per_account
    left join sales on per_account.account_id = sales.account_id
    left join accounts on per_account.account_id = accounts.account_id
),

rated as (
    select
        *,
        -- days of the baseline window the account's history covers
        greatest(meta.days_between(
            greatest(history_start, $as_of - meta.rule_days('case_spike', 'recent_days')
                - meta.rule_days('case_spike', 'baseline_days')),
            $as_of - meta.rule_days('case_spike', 'recent_days')
        ), 0) as baseline_known_days
    from history
),

usual as (
    select
        *,
        baseline_known_days >= meta.rule_num('case_spike', 'recent_days') as has_baseline,
        baseline_known_days < meta.rule_num('case_spike', 'baseline_days') as is_partial,
        baseline_count * meta.rule_num('case_spike', 'recent_days') / nullif(baseline_known_days, 0) as usual_count
    from rated
),

final as (
    select
        account_id,
        'case_spike' as signal_id,
        to_json({'recent_count': recent_count, 'baseline_count': baseline_count, 'usual_count': usual_count,
            'baseline_days': round(baseline_known_days, 1), 'history_start': history_start,
            'recent_case_numbers': recent_case_numbers}) as evidence,
        recent_count || ' cases in the last ' || meta.human_num(meta.rule_num('case_spike', 'recent_days'))
            || ' days against a usual ' || meta.human_num(round(usual_count, 1))
            || case when is_partial then ' since ' || meta.human_date(history_start) else '' end || '.' as reason
    from usual
    where has_baseline
        and recent_count >= meta.rule_num('case_spike', 'min_cases')
        and recent_count > meta.rule_num('case_spike', 'factor') * usual_count
)

select * from final
