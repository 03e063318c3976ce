-- sig_case_spike: cases in the last `recent_days` above `factor` times the usual rate of the `baseline_days`
-- before, with at least `min_cases`. grain: account; key: account_id
create or replace table marts.sig_case_spike as

with cases as (
    select * from marts.int_cases
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
        ) as recent_case_numbers
    from cases
    group by 1
),

rated as (
    select
        per_account.*,
        sales.first_won_date,
        per_account.baseline_count * meta.rule_num('case_spike', 'recent_days')
            / meta.rule_num('case_spike', 'baseline_days') as usual_count,
        -- a customer for less than the whole comparison window has no usual rate yet: the reason says so
        coalesce(
            sales.first_won_date > cast($as_of as date)
                - cast(meta.rule_num('case_spike', 'recent_days') + meta.rule_num('case_spike', 'baseline_days')
                    as integer),
            false
        ) as is_new
    from per_account
    left join marts.int_account_sales_history as sales on per_account.account_id = sales.account_id
),

final as (
    select
        account_id,
        'case_spike' as signal_id,
        to_json({'recent_count': recent_count, 'baseline_count': baseline_count, 'usual_count': usual_count,
            'recent_case_numbers': recent_case_numbers}) as evidence,
        recent_count || ' cases in the last ' || meta.human_num(meta.rule_num('case_spike', 'recent_days'))
            || ' days' || case
                when is_new and baseline_count = 0
                    then ', since it became a customer on ' || meta.human_date(first_won_date)
                        || ': too new for a usual rate to compare with.'
                else ' against a usual ' || meta.human_num(round(usual_count, 1)) || '.'
            end as reason
    from rated
    where recent_count >= meta.rule_num('case_spike', 'min_cases')
        and recent_count > meta.rule_num('case_spike', 'factor') * usual_count
)

select * from final
