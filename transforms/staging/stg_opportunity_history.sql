-- stg_opportunity_history: one row per opportunity change (stage, amount, close date). key: opportunity_history_id
create or replace view staging.stg_opportunity_history as

with source as (
    select * from raw.opportunity_history
),

final as (
    select
        id as opportunity_history_id,
        opportunityid as opportunity_id,
        stagename as stage_name,
        cast(amount as double) as amount,
        closedate as close_date,
        cast(prevamount as double) as previous_amount,
        prevclosedate as previous_close_date,
        createddate as changed_at
    from source
    where not coalesce(_deleted, false) and not coalesce(isdeleted, false)
)

select * from final
