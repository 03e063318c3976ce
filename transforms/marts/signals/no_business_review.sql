-- sig_no_business_review: no business-review event in `key_account_days` (key accounts) or `other_days`.
-- Not scored (no rows) when the org has no business-review events at all. grain: account; key: account_id
create or replace table marts.sig_no_business_review as

with accounts as (
    select staging_accounts.*
    from staging.stg_accounts as staging_accounts
    inner join marts.int_account_sales_history as sales on staging_accounts.account_id = sales.account_id
    where sales.is_customer
),

reviews as (
    -- business-review events the org knew of at $as_of, at their start (int_activities: the activity clock)
    select * from marts.int_activities
    where activity_kind = 'event' and activity_type = meta.rule_text('inputs', 'business_review_event_type')
),

last_review as (
    select account_id, max(occurred_at) as last_review_at
    from reviews
    where occurred_at <= $as_of
    group by 1
),

assessed as (
    select
        accounts.account_id,
        accounts.is_key_account,
        last_review.last_review_at,
        case
            when accounts.is_key_account then meta.rule_num('no_business_review', 'key_account_days')
            else meta.rule_num('no_business_review', 'other_days')
        end as limit_days,
        accounts.created_at
    from accounts
    left join last_review on accounts.account_id = last_review.account_id
),

final as (
    select
        account_id,
        'no_business_review' as signal_id,
        to_json({'last_review_at': last_review_at, 'limit_days': limit_days, 'key_account': is_key_account}) as evidence,
        case
            when last_review_at is null then 'No business review on record.'
            else 'No business review since ' || meta.human_date(last_review_at) || '.'
        end as reason
    from assessed
    where (select has_business_reviews from staging.org_inputs)
        and created_at <= $as_of - to_days(cast(limit_days as integer))
        and (last_review_at is null or last_review_at < $as_of - to_days(cast(limit_days as integer)))
)

select * from final
