-- sig_renewal_only_contact: a renewal is due within `renewal_within_days`, and the account team's last touch is
-- older than `last_touch_older_than_days`, or more than `pre_renewal_share` of the year's touches fell in the
-- `pre_renewal_days` before the last renewal. grain: account; key: account_id
create or replace table marts.sig_renewal_only_contact as

with sales as (
    select * from marts.int_account_sales_history
    where days_to_renewal between 0 and meta.rule_num('renewal_only_contact', 'renewal_within_days')
),

touches as (
    select * from marts.int_account_touches
),

per_account as (
    select
        sales.account_id,
        sales.next_renewal_opportunity_id,
        sales.next_renewal_name,
        sales.next_renewal_date,
        sales.last_closed_renewal_date,
        max(touches.touched_at) as last_touched_at,
        count(touches.activity_id) filter (where touches.touched_at > $as_of - interval 365 day) as year_touches,
        count(touches.activity_id) filter (
            where touches.touched_at > $as_of - interval 365 day
                and cast(touches.touched_at as date) <= sales.last_closed_renewal_date
                and cast(touches.touched_at as date) > sales.last_closed_renewal_date
                    - cast(meta.rule_num('renewal_only_contact', 'pre_renewal_days') as integer)
        ) as pre_renewal_touches
    from sales
    left join touches on sales.account_id = touches.account_id
    group by all
),

assessed as (
    select
        *,
        last_touched_at is null
            or last_touched_at < $as_of - meta.rule_days('renewal_only_contact', 'last_touch_older_than_days')
            as stale,
        year_touches >= meta.rule_num('renewal_only_contact', 'min_year_touches')
            and pre_renewal_touches > year_touches * meta.rule_num('renewal_only_contact', 'pre_renewal_share')
            as bunched
    from per_account
),

final as (
    select
        account_id,
        'renewal_only_contact' as signal_id,
        to_json({'renewal_opportunity_id': next_renewal_opportunity_id, 'renewal_name': next_renewal_name,
            'renewal_date': next_renewal_date, 'last_touched_at': last_touched_at, 'year_touches': year_touches,
            'pre_renewal_touches': pre_renewal_touches, 'last_renewal_date': last_closed_renewal_date}) as evidence,
        'Renewal on ' || meta.human_date(next_renewal_date) || '; '
            || case
                when stale and last_touched_at is null then 'no contact from the account team on record.'
                when stale then 'the last contact from the account team was on ' || meta.human_date(last_touched_at) || '.'
                else pre_renewal_touches || ' of ' || year_touches
                    || ' contacts this year came in the weeks before the last renewal.'
            end as reason
    from assessed
    where stale or bunched
)

select * from final
