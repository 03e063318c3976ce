-- sig_existing_client_neglect: the owner's touches on this customer in `window_days` are below
-- `max_share_of_median` of the median customer account, while the owner's touches on prospects are above the
-- median of owners. grain: account; key: account_id
-- scope: org (compared with the org's medians: an account refresh keeps the last full run's rows)
create or replace table marts.sig_existing_client_neglect as

with accounts as (
    select staging_accounts.* exclude (is_customer), sales.is_customer
    from staging.stg_accounts as staging_accounts
    inner join marts.int_account_sales_history as sales on staging_accounts.account_id = sales.account_id
    where staging_accounts.created_at <= $as_of
),

touches as (
    select * from marts.int_account_touches
    where touched_at > $as_of - meta.rule_days('existing_client_neglect', 'window_days')
),

owner_touches as (
    select
        accounts.account_id,
        accounts.owner_id,
        accounts.is_customer,
        count(touches.activity_id) as touches
    from accounts
    left join touches on accounts.account_id = touches.account_id and touches.owner_id = accounts.owner_id
    group by 1, 2, 3
),

customer_median as (
    select median(touches) as median_touches
    from owner_touches
    where is_customer
),

prospect_work as (
    select owner_id, sum(touches) as prospect_touches
    from owner_touches
    where not is_customer
    group by 1
),

owners as (
    select
        owner_touches.owner_id,
        coalesce(prospect_work.prospect_touches, 0) as prospect_touches
    from (select distinct owner_id from owner_touches) as owner_touches
    left join prospect_work on owner_touches.owner_id = prospect_work.owner_id
),

owner_median as (
    select median(prospect_touches) as median_prospect_touches
    from owners
),

final as (
    select
        owner_touches.account_id,
        'existing_client_neglect' as signal_id,
        to_json({'owner_id': owner_touches.owner_id, 'touches': owner_touches.touches,
            'median_customer_touches': customer_median.median_touches,
            'owner_prospect_touches': owners.prospect_touches,
            'median_prospect_touches': owner_median.median_prospect_touches}) as evidence,
        'This account got ' || owner_touches.touches
            || case when owner_touches.touches = 1 then ' touch' else ' touches' end
            || ' from its owner in the last ' || meta.human_num(meta.rule_num('existing_client_neglect', 'window_days'))
            || ' days; similar accounts got ' || meta.human_num(round(customer_median.median_touches, 1)) || '.' as reason
    from owner_touches
    cross join customer_median
    cross join owner_median
    inner join owners on owner_touches.owner_id = owners.owner_id
    where owner_touches.is_customer
        and owner_touches.touches
            < customer_median.median_touches * meta.rule_num('existing_client_neglect', 'max_share_of_median')
        and owners.prospect_touches > owner_median.median_prospect_touches
)

select * from final
