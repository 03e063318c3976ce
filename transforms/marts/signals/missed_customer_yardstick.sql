-- sig_missed_customer_yardstick: the share of cases closed in `window_days` that took longer than the customer's
-- own expected resolution time (Account.Expected_Resolution_Days__c) is above `max_late_share`, with at least
-- `min_cases` cases. Accounts without an expectation are not scored (marts.signal_coverage).
-- grain: account; key: account_id
create or replace table marts.sig_missed_customer_yardstick as

with cases as (
    select * from marts.int_cases
),

closed_in_window as (
    select *
    from cases
    where expected_resolution_days is not null
        and closed_at_as_of > $as_of - meta.rule_days('missed_customer_yardstick', 'window_days')
),

per_account as (
    select
        account_id,
        any_value(expected_resolution_days) as expected_days,
        count(*) as closed_count,
        count(*) filter (where resolution_days > expected_resolution_days) as late_count,
        count(*) filter (
            where resolution_days > expected_resolution_days
                and resolution_days <= meta.rule_num('missed_customer_yardstick', 'internal_target_days')
        ) as late_within_internal_target,
        list(case_id order by created_at) filter (where resolution_days > expected_resolution_days) as late_case_ids,
        list(case_number order by created_at) filter (where resolution_days > expected_resolution_days)
            as late_case_numbers
    from closed_in_window
    group by 1
),

final as (
    select
        account_id,
        'missed_customer_yardstick' as signal_id,
        to_json({'late_case_ids': late_case_ids, 'late_case_numbers': late_case_numbers, 'late_count': late_count,
            'closed_count': closed_count, 'expected_days': expected_days,
            'late_within_internal_target': late_within_internal_target}) as evidence,
        late_count || ' of ' || closed_count || ' cases in the last '
            || meta.human_num(meta.rule_num('missed_customer_yardstick', 'window_days'))
            || ' days took longer than the ' || meta.n_days(expected_days) || ' this customer expects'
            || case
                when late_within_internal_target = late_count
                    then ' (our internal '
                        || meta.human_num(meta.rule_num('missed_customer_yardstick', 'internal_target_days'))
                        || '-day target was met).'
                else '.'
            end as reason
    from per_account
    where closed_count >= meta.rule_num('missed_customer_yardstick', 'min_cases')
        and late_count > closed_count * meta.rule_num('missed_customer_yardstick', 'max_late_share')
)

select * from final
