-- sig_oversell_complaint: a case within `within_days` after a service visit whose reason, type or subject points
-- to charges, scope or pushy selling; the visit within `lookback_days`. grain: account; key: account_id
create or replace table marts.sig_oversell_complaint as

with visits as (
    -- service visits the org knew of at $as_of, at their start (int_activities: the activity clock)
    select activity_id as event_id, account_id, occurred_at as starts_at
    from marts.int_activities
    where activity_kind = 'event'
        and activity_type = meta.rule_text('inputs', 'service_visit_event_type')
        and occurred_at <= $as_of
        and occurred_at > $as_of - meta.rule_days('oversell_complaint', 'lookback_days')
),

complaints as (
    select * from marts.int_cases
    where list_contains(meta.rule_list('oversell_complaint', 'complaint_reasons'), reason)
        or case_type = 'Billing'
        or len(list_filter(meta.rule_list('oversell_complaint', 'complaint_keywords'),
            lambda k: contains(lower(coalesce(subject, '')), k))) > 0
),

hits as (
    select
        visits.account_id,
        visits.event_id,
        visits.starts_at as visit_at,
        complaints.case_id,
        complaints.case_number,
        -- the Subject tells the rep what happened; the Reason picklist ('Feedback') only when there is none
        coalesce(
            case when length(trim(complaints.subject)) > 80 then left(trim(complaints.subject), 77) || '...'
                else nullif(trim(complaints.subject), '') end,
            complaints.reason, complaints.case_type, 'a complaint'
        ) as complaint_about,
        complaints.created_at
    from visits
    inner join complaints
        on visits.account_id = complaints.account_id
        and complaints.created_at >= visits.starts_at
        and complaints.created_at <= visits.starts_at + meta.rule_days('oversell_complaint', 'within_days')
    qualify row_number() over (partition by complaints.case_id order by visits.starts_at desc) = 1
),

final as (
    select
        account_id,
        'oversell_complaint' as signal_id,
        to_json({'case_ids': list(case_id order by created_at desc), 'case_numbers': list(case_number order by created_at desc),
            'visit_event_ids': list(event_id order by created_at desc), 'count': count(*)}) as evidence,
        'A complaint (''' || arg_max(complaint_about, created_at) || ''', case '
            || arg_max(case_number, created_at) || ') followed the ' || meta.human_date(arg_max(visit_at, created_at))
            || ' service visit.' as reason
    from hits
    group by account_id
)

select * from final
