-- sig_champion_gone: the account's main contact (primary contact role of the latest won or renewal opportunity,
-- else the most engaged contact) bounced or left the company within `recent_loss_days` (a departure counts while
-- we were still in touch), or has had no activity for `silent_days`. A bounce or departure no longer fires once a
-- new contact, added to the account at most `handover_days` before the loss (or after it), has been engaged since it
-- was added (the rep found the new decision maker). A firing is `mitigated` (the rules' mitigated_severity) while
-- the account team is in touch with at least `mitigating_contacts` other contacts there who have not left or
-- bounced (touched within `mitigation_window_days`): the account is not single-threaded on the lost contact.
-- grain: account; key: account_id
create or replace table marts.sig_champion_gone as

with contacts as (
    select * from staging.stg_contacts
    where created_at <= $as_of
),

opportunities as (
    select * from staging.stg_opportunities
    where (is_won or is_renewal) and created_at <= $as_of
),

roles as (
    select * from staging.stg_opportunity_contact_roles
),

-- read three times: DuckDB would materialize it (3.3 million rows at 50,000 accounts, spilled to disk at the
-- warehouse's memory cap); scanning the activities three times costs less
touches as not materialized (
    select * from marts.int_account_touches
    where contact_id is not null
),

primary_of_latest_deal as (
    select
        opportunities.account_id,
        roles.contact_id,
        opportunities.opportunity_name as via_opportunity
    from opportunities
    inner join roles on opportunities.opportunity_id = roles.opportunity_id and roles.is_primary
    qualify row_number() over (
        partition by opportunities.account_id order by opportunities.close_date desc, opportunities.opportunity_id
    ) = 1
),

most_engaged as (
    select
        account_id,
        contact_id,
        null as via_opportunity
    from touches
    where touched_at > $as_of - meta.rule_days('champion_gone', 'engagement_days')
    group by account_id, contact_id
    qualify row_number() over (partition by account_id order by count(*) desc, max(touched_at) desc, contact_id) = 1
),

champions as (
    select * from primary_of_latest_deal
    union all
    select * from most_engaged
    where account_id not in (select account_id from primary_of_latest_deal)
),

last_touch as (
    select contact_id, max(touched_at) as last_touched_at
    from touches
    group by 1
),

replacements as (
    -- contacts engaged since they were added: (account, contact, when added)
    select
        contacts.account_id,
        contacts.contact_id,
        contacts.created_at
    from contacts
    -- a touch since it was added (touches are all by $as_of): its last one is on or after its creation
    inner join last_touch on contacts.contact_id = last_touch.contact_id
        and last_touch.last_touched_at >= contacts.created_at
),

reachable as (
    -- contacts neither gone (Left_Company__c, dated by the last modification) nor bounced as of $as_of
    select * from contacts
    where not (has_left_company and modified_at <= $as_of)
        and not (is_email_bounced and coalesce(email_bounced_at <= $as_of, true))
),

others_engaged as (
    select
        champions.account_id,
        count(distinct touches.contact_id) as other_contacts
    from champions
    inner join touches on champions.account_id = touches.account_id
        and touches.contact_id <> champions.contact_id
        and touches.touched_at > $as_of - meta.rule_days('champion_gone', 'mitigation_window_days')
    inner join reachable on touches.contact_id = reachable.contact_id
    group by 1
),

assessed as (
    select
        champions.account_id,
        champions.via_opportunity,
        contacts.contact_id,
        meta.short_name(contacts.first_name, contacts.last_name, contacts.contact_name) as contact_label,
        -- a loss is news while it is recent: a bounce, or a departure of a contact we were still talking to
        contacts.is_email_bounced and coalesce(contacts.email_bounced_at <= $as_of
            and contacts.email_bounced_at > $as_of - meta.rule_days('champion_gone', 'recent_loss_days'), true)
            as bounced,
        contacts.email_bounced_at,
        -- Left_Company__c has no date: the contact's last modification (when the flag was set at the latest)
        -- dates it, so a departure after $as_of is not seen earlier
        contacts.has_left_company
            and contacts.modified_at <= $as_of
            and contacts.modified_at > $as_of - meta.rule_days('champion_gone', 'recent_loss_days')
            as has_left_company,
        last_touch.last_touched_at,
        coalesce(others_engaged.other_contacts, 0) as other_contacts,
        exists (
            select 1 from replacements
            where replacements.account_id = champions.account_id
                and replacements.contact_id <> contacts.contact_id
                and replacements.created_at > least(
                    case when contacts.is_email_bounced then coalesce(contacts.email_bounced_at, contacts.modified_at) end,
                    case when contacts.has_left_company then contacts.modified_at end
                ) - meta.rule_days('champion_gone', 'handover_days')
        ) as replaced,
        not (contacts.has_left_company and contacts.modified_at <= $as_of)
            and not (contacts.is_email_bounced and coalesce(contacts.email_bounced_at <= $as_of, true))
            and coalesce(last_touch.last_touched_at, contacts.created_at)
                < $as_of - meta.rule_days('champion_gone', 'silent_days') as silent
    from champions
    inner join contacts on champions.contact_id = contacts.contact_id
    left join last_touch on champions.contact_id = last_touch.contact_id
    left join others_engaged on champions.account_id = others_engaged.account_id
),

final as (
    select
        account_id,
        'champion_gone' as signal_id,
        to_json({'contact_id': contact_id, 'contact': contact_label, 'via_opportunity': via_opportunity,
            'bounced_at': email_bounced_at, 'left_company': has_left_company,
            'last_touched_at': last_touched_at, 'other_contacts_engaged': other_contacts,
            'why': case when bounced then 'bounced' when has_left_company then 'left' else 'silent' end}) as evidence,
        case
            when bounced then 'Our main contact ' || contact_label || '''s email bounced'
                || coalesce(' on ' || meta.human_date(email_bounced_at), '') || '.'
            when has_left_company then 'Our main contact ' || contact_label || ' has left the company.'
            when last_touched_at is null then 'Our main contact ' || contact_label
                || ' has no recorded activity with us.'
            else 'Our main contact ' || contact_label || ' has not heard from us since '
                || meta.human_date(last_touched_at) || '.'
        end
        || case
            when other_contacts >= meta.rule_num('champion_gone', 'mitigating_contacts')
                then ' We are still in touch with at least '
                    || cast(meta.rule_num('champion_gone', 'mitigating_contacts') as integer) || ' other contacts there.'
            else ''
        end as reason,
        other_contacts >= meta.rule_num('champion_gone', 'mitigating_contacts') as mitigated
    from assessed
    where ((bounced or has_left_company) and not replaced) or silent
)

select * from final
