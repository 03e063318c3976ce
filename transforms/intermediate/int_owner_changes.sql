-- int_owner_changes: account owner changes up to $as_of with the owners' names. grain: change; key: account_history_id
create or replace table marts.int_owner_changes as

with history as (
    select * from staging.stg_account_history
),

users as (
    select * from staging.stg_users
),

final as (
    select
        history.account_history_id,
        history.account_id,
        history.changed_at,
        history.old_value as old_owner,
        history.new_value as new_owner,
        coalesce(old_user.user_name, history.old_value) as old_owner_name,
        coalesce(new_user.user_name, history.new_value) as new_owner_name,
        new_user.user_id as new_owner_id
    from history
    left join users as old_user on history.old_value = old_user.user_id
    left join users as new_user on history.new_value = new_user.user_id
    where history.field_name in ('Owner', 'OwnerId')
        and history.changed_at <= $as_of
        -- Salesforce writes an owner change twice (ids and names): keep the id row when both exist
        and (history.new_value like '005%' or not exists (
            select 1 from staging.stg_account_history as twin
            where twin.account_id = history.account_id and twin.changed_at = history.changed_at
                and twin.field_name = history.field_name and twin.new_value like '005%'
        ))
)

select * from final
