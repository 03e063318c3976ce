-- stg_opportunity_contact_roles: one row per contact role on an opportunity. key: opportunity_contact_role_id
create or replace view staging.stg_opportunity_contact_roles as

with source as (
    select * from raw.opportunity_contact_role
),

final as (
    select
        id as opportunity_contact_role_id,
        opportunityid as opportunity_id,
        contactid as contact_id,
        role,
        coalesce(isprimary, false) as is_primary,
        createddate as created_at
    from source
    where not coalesce(_deleted, false) and not coalesce(isdeleted, false)
)

select * from final
