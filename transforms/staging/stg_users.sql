-- stg_users: one row per CRM user. grain: user; key: user_id
create or replace view staging.stg_users as

with source as (
    select * from raw."user"
),

final as (
    select
        id as user_id,
        coalesce(name, trim(concat_ws(' ', firstname, lastname))) as user_name,
        firstname as first_name,
        lastname as last_name,
        email,
        coalesce(isactive, true) as is_active
    from source
    where not coalesce(_deleted, false)
)

select * from final
