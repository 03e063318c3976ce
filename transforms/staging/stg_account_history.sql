-- stg_account_history: one row per tracked account field change (owner changes). key: account_history_id
create or replace view staging.stg_account_history as

with source as (
    select * from raw.account_history
),

final as (
    select
        id as account_history_id,
        accountid as account_id,
        field as field_name,
        oldvalue as old_value,
        newvalue as new_value,
        createddate as changed_at
    from source
    where not coalesce(_deleted, false) and not coalesce(isdeleted, false)
)

select * from final
