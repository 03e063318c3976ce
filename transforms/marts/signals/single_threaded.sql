-- sig_single_threaded: fewer than `min_contacts` contacts engaged (completed task or event) in `window_days`.
-- Not scored (no rows) when the org has no contacts at all.
-- grain: account; key: account_id
create or replace table marts.sig_single_threaded as

with accounts as (
    select staging_accounts.*
    from staging.stg_accounts as staging_accounts
    inner join marts.int_account_sales_history as sales on staging_accounts.account_id = sales.account_id
    where sales.is_customer and staging_accounts.created_at <= $as_of
),

contacts as (
    select * from staging.stg_contacts
),

touches as (
    select * from marts.int_account_touches
    where contact_id is not null and touched_at > $as_of - meta.rule_days('single_threaded', 'window_days')
),

engaged as (
    select account_id, contact_id, count(*) as touches
    from touches
    group by 1, 2
),

per_account as (
    select
        accounts.account_id,
        count(engaged.contact_id) as engaged_contacts,
        list(engaged.contact_id) filter (where engaged.contact_id is not null) as contact_ids,
        any_value(meta.short_name(contacts.first_name, contacts.last_name, contacts.contact_name))
            filter (where contacts.contact_id is not null) as contact_label
    from accounts
    left join engaged on accounts.account_id = engaged.account_id
    left join contacts on engaged.contact_id = contacts.contact_id
    group by 1
),

final as (
    select
        account_id,
        'single_threaded' as signal_id,
        to_json({'engaged_contacts': engaged_contacts, 'contact_ids': contact_ids,
            'window_days': meta.rule_num('single_threaded', 'window_days')}) as evidence,
        case
            when engaged_contacts = 0 then 'No contact at this customer has heard from us in the last '
                || meta.human_num(meta.rule_num('single_threaded', 'window_days')) || ' days.'
            when engaged_contacts = 1 then 'Only one contact (' || coalesce(contact_label, 'unnamed')
                || ') has heard from us in the last '
                || meta.human_num(meta.rule_num('single_threaded', 'window_days')) || ' days.'
            else 'Only ' || engaged_contacts || ' contacts have heard from us in the last '
                || meta.human_num(meta.rule_num('single_threaded', 'window_days')) || ' days.'
        end as reason
    from per_account
    -- an org without contacts is not scored (marts.signal_coverage): every account would read single-threaded
    where (select has_contacts from staging.org_inputs)
        and engaged_contacts < meta.rule_num('single_threaded', 'min_contacts')
)

select * from final
