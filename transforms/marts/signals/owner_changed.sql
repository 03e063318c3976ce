-- sig_owner_changed: the account owner changed in the last `window_days`, and a renewal is due within
-- `renewal_within_days` or the new owner has not touched the account since. grain: account; key: account_id
create or replace table marts.sig_owner_changed as

with changes as (
    select * from marts.int_owner_changes
    where changed_at > $as_of - meta.rule_days('owner_changed', 'window_days')
    qualify row_number() over (partition by account_id order by changed_at desc, account_history_id) = 1
),

sales as (
    select * from marts.int_account_sales_history
),

touches as (
    select * from marts.int_account_touches
),

assessed as (
    select
        changes.*,
        sales.next_renewal_date,
        coalesce(sales.days_to_renewal <= meta.rule_num('owner_changed', 'renewal_within_days'), false)
            as renewal_due,
        (
            select max(touches.touched_at) from touches
            where touches.account_id = changes.account_id and touches.touched_at >= changes.changed_at
                and (touches.owner_id = changes.new_owner_id or changes.new_owner_id is null)
        ) as new_owner_touched_at
    from changes
    left join sales on changes.account_id = sales.account_id
),

final as (
    select
        account_id,
        'owner_changed' as signal_id,
        to_json({'account_history_id': account_history_id, 'changed_at': changed_at, 'old_owner': old_owner_name,
            'new_owner': new_owner_name, 'renewal_date': next_renewal_date,
            'new_owner_touched_at': new_owner_touched_at}) as evidence,
        'Account moved from ' || coalesce(old_owner_name, 'a previous owner') || ' to '
            || coalesce(new_owner_name, 'a new owner') || ' on ' || meta.human_date(changed_at)
            || case
                when new_owner_touched_at is null then '; no contact from the new owner since'
                else ''
            end
            || case when renewal_due then '; renewal on ' || meta.human_date(next_renewal_date) else '' end
            || '.' as reason
    from assessed
    where renewal_due or new_owner_touched_at is null
)

select * from final
