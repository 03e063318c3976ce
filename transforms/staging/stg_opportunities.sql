-- stg_opportunities: one row per live opportunity. grain: opportunity; key: opportunity_id
create or replace view staging.stg_opportunities as

with source as (
    select * from raw.opportunity
),

final as (
    select
        id as opportunity_id,
        accountid as account_id,
        name as opportunity_name,
        stagename as stage_name,
        cast(amount as double) as amount,
        closedate as close_date,
        type as opportunity_type,
        coalesce(type = 'Renewal', false) as is_renewal,
        coalesce(isclosed, stagename in ('Closed Won', 'Closed Lost')) as is_closed,
        coalesce(iswon, stagename = 'Closed Won') as is_won,
        ownerid as owner_id,
        createddate as created_at
    from source
    where not coalesce(_deleted, false) and not coalesce(isdeleted, false)
)

select * from final
