-- int_account_sales_history: each account's sales record at $as_of: wins, open pipeline, next renewal, and
-- whether it was a customer then: its Type when the row was last changed before $as_of; otherwise (a later change
-- could be the churn itself) a customer Type, or a win within `[risk] contract_days` not followed by a lost
-- renewal, and never before the first win.
-- grain: account; key: account_id
create or replace table marts.int_account_sales_history as

with accounts as (
    select * from staging.stg_accounts
),

opportunities as (
    select
        *,
        is_won and close_date <= cast($as_of as date) as won_by_as_of,
        not (is_closed and close_date <= cast($as_of as date)) as open_at_as_of
    from staging.stg_opportunities
    where created_at <= $as_of
),

ever_won as (
    select account_id, min(close_date) as first_won_ever
    from staging.stg_opportunities
    where is_won
    group by 1
),

next_renewal as (
    select
        account_id,
        opportunity_id as next_renewal_opportunity_id,
        opportunity_name as next_renewal_name,
        close_date as next_renewal_date
    from opportunities
    where is_renewal and open_at_as_of and close_date >= cast($as_of as date)
    qualify row_number() over (partition by account_id order by close_date, opportunity_id) = 1
),

per_account as (
    select
        account_id,
        count(*) filter (where won_by_as_of) as won_count,
        sum(amount) filter (where won_by_as_of) as won_amount,
        min(close_date) filter (where won_by_as_of) as first_won_date,
        max(close_date) filter (where won_by_as_of) as last_won_date,
        count(*) filter (where open_at_as_of) as open_count,
        sum(amount) filter (where open_at_as_of) as open_amount,
        max(close_date) filter (where is_renewal and not open_at_as_of) as last_closed_renewal_date,
        max(close_date) filter (where is_renewal and not open_at_as_of and not is_won) as last_lost_renewal_date
    from opportunities
    group by 1
),

final as (
    select
        accounts.account_id,
        coalesce(per_account.won_count, 0) as won_count,
        coalesce(per_account.won_amount, 0) as won_amount,
        per_account.first_won_date,
        per_account.last_won_date,
        coalesce(per_account.open_count, 0) as open_count,
        coalesce(per_account.open_amount, 0) as open_amount,
        per_account.last_closed_renewal_date,
        next_renewal.next_renewal_opportunity_id,
        next_renewal.next_renewal_name,
        next_renewal.next_renewal_date,
        date_diff('day', cast($as_of as date), next_renewal.next_renewal_date) as days_to_renewal,
        case
            -- the account row was last changed before $as_of: its Type is what it was then
            when accounts.modified_at <= $as_of then accounts.is_customer
            when coalesce(per_account.won_count, 0) > 0
                then accounts.is_customer or (
                    per_account.last_won_date
                        > cast($as_of as date) - cast(meta.rule_num('risk', 'contract_days') as integer)
                    -- a renewal lost after the last win ended the contract
                    and coalesce(per_account.last_lost_renewal_date < per_account.last_won_date, true)
                )
            when ever_won.first_won_ever is not null then false
            else accounts.is_customer
        end as is_customer,
        case
            when per_account.first_won_date is null then 'prospect'
            when per_account.first_won_date > cast($as_of as date)
                - cast(meta.rule_num('risk', 'onboarding_days') as integer) then 'onboarding'
            else 'steady'
        end as lifecycle
    from accounts
    left join per_account on accounts.account_id = per_account.account_id
    left join next_renewal on accounts.account_id = next_renewal.account_id
    left join ever_won on accounts.account_id = ever_won.account_id
)

select * from final
