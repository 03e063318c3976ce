-- stg_cases: one row per live case. grain: case; key: case_id
create or replace view staging.stg_cases as

with source as (
    select * from raw."case"
),

final as (
    select
        id as case_id,
        casenumber as case_number,
        accountid as account_id,
        contactid as contact_id,
        status,
        coalesce(isclosed, status = 'Closed') as is_closed,
        closeddate as closed_at,
        priority,
        origin,
        type as case_type,
        reason,
        coalesce(isescalated, false) as is_escalated,
        coalesce(isescalated, false) or coalesce(priority = 'High', false) as is_urgent,
        subject,
        ownerid as owner_id,
        cast(csat__c as double) as csat,
        createddate as created_at
    from source
    where not coalesce(_deleted, false) and not coalesce(isdeleted, false)
)

select * from final
