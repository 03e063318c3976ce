-- sig_repeat_issue: a closed case followed within `reopen_within_days` by a new case of the same type and reason,
-- at least `min_count` times within `window_days` of $as_of. grain: account; key: account_id
create or replace table marts.sig_repeat_issue as

with cases as (
    select * from marts.int_cases
),

repeats as (
    select
        later.account_id,
        later.case_id,
        later.case_number,
        later.created_at,
        earlier.case_number as previous_case_number,
        earlier.closed_at_as_of as previous_closed_at
    from cases as later
    inner join cases as earlier
        on later.account_id = earlier.account_id
        and later.case_id <> earlier.case_id
        and earlier.closed_at_as_of is not null
        and later.created_at > earlier.closed_at_as_of
        and later.created_at <= earlier.closed_at_as_of + meta.rule_days('repeat_issue', 'reopen_within_days')
        and later.case_type is not distinct from earlier.case_type
        and later.reason is not distinct from earlier.reason
    where later.created_at > $as_of - meta.rule_days('repeat_issue', 'window_days')
    qualify row_number() over (partition by later.case_id order by earlier.closed_at_as_of desc) = 1
),

per_account as (
    select
        account_id,
        count(*) as repeat_count,
        list(case_id order by created_at) as case_ids,
        list(case_number order by created_at) as case_numbers,
        list(previous_case_number order by created_at) as previous_case_numbers,
        min(created_at) as first_repeat_at,
        max(created_at) as last_repeat_at
    from repeats
    group by 1
),

final as (
    select
        account_id,
        'repeat_issue' as signal_id,
        to_json({
            'case_ids': case_ids,
            'case_numbers': case_numbers,
            'previous_case_numbers': previous_case_numbers,
            'repeat_count': repeat_count,
            'first_repeat_at': first_repeat_at,
            'last_repeat_at': last_repeat_at
        }) as evidence,
        repeat_count || ' issues came back within '
            || meta.human_num(meta.rule_num('repeat_issue', 'reopen_within_days'))
            || ' days of being closed (cases ' || array_to_string(case_numbers, ', ') || ').' as reason
    from per_account
    where repeat_count >= meta.rule_num('repeat_issue', 'min_count')
)

select * from final
