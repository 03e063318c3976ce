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
        *,
        baseline_count * meta.rule_num('case_spike', 'recent_days') / meta.rule_num('case_spike', 'baseline_days')
            as usual_count
    from per_account
),

final as (
    select
        account_id,
        'case_spike' as signal_id,
        to_json({'recent_count': recent_count, 'baseline_count': baseline_count, 'usual_count': usual_count,
            'recent_case_numbers': recent_case_numbers}) as evidence,
        recent_count || ' cases in the last ' || meta.human_num(meta.rule_num('case_spike', 'recent_days'))
            || ' days against a usual ' || meta.human_num(round(usual_count, 1)) || '.' as reason
    from rated
    where recent_count >= meta.rule_num('case_spike', 'min_cases')
        and recent_count > meta.rule_num('case_spike', 'factor') * usual_count
)

select * from final
