-- sig_escalation_load: at least `min_count` escalated or high-priority cases opened in the last `window_days`, or
-- `growth_factor` times as many as in the window before (onboarding profile: its own minimum).
-- grain: account; key: account_id
create or replace table marts.sig_escalation_load as

with cases as (
    select * from marts.int_cases
    where is_urgent
),

sales as (
    select * from marts.int_account_sales_history
),

per_account as (
    select
        account_id,
        count(*) filter (
            where created_at > $as_of - meta.rule_days('escalation_load', 'window_days')
        ) as current_count,
        count(*) filter (
            where created_at <= $as_of - meta.rule_days('escalation_load', 'window_days')
                and created_at > $as_of - 2 * meta.rule_days('escalation_load', 'window_days')
        ) as previous_count,
        list(case_number order by created_at) filter (
            where created_at > $as_of - meta.rule_days('escalation_load', 'window_days')
        ) as case_numbers,
        list(case_id order by created_at) filter (
            where created_at > $as_of - meta.rule_days('escalation_load', 'window_days')
        ) as case_ids
    from cases
    group by 1
),

with_lifecycle as (
    select per_account.*, sales.lifecycle
    from per_account
    left join sales on per_account.account_id = sales.account_id
),

final as (
    select
        account_id,
        'escalation_load' as signal_id,
        to_json({'case_ids': case_ids, 'case_numbers': case_numbers, 'current_count': current_count,
            'previous_count': previous_count}) as evidence,
        current_count || ' escalated or high-priority cases in the last '
            || meta.human_num(meta.rule_num('escalation_load', 'window_days')) || ' days'
            || case
                when previous_count = 0 then '.'
                when previous_count < current_count then ', up from ' || previous_count || '.'
                else ' (' || previous_count || ' in the ' || meta.human_num(meta.rule_num('escalation_load', 'window_days'))
                    || ' days before).'
            end as reason
    from with_lifecycle
    where current_count >= meta.rule_for('escalation_load', 'min_count', lifecycle)
        or (previous_count > 0 and current_count >= previous_count * meta.rule_num('escalation_load', 'growth_factor'))
)

select * from final
