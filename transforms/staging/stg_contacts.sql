-- stg_contacts: one row per live contact. grain: contact; key: contact_id
create or replace view staging.stg_contacts as

with source as (
    select * from raw.contact
),

final as (
    select
        id as contact_id,
        accountid as account_id,
        firstname as first_name,
        lastname as last_name,
        coalesce(name, trim(concat_ws(' ', firstname, lastname))) as contact_name,
        title,
        email,
        coalesce(isemailbounced, false) as is_email_bounced,
        emailbounceddate as email_bounced_at,
        emailbouncedreason as email_bounced_reason,
        coalesce(left_company__c, false) as has_left_company,
        createddate as created_at,
        systemmodstamp as modified_at
    from source
    where not coalesce(_deleted, false) and not coalesce(isdeleted, false)
)

select * from final
