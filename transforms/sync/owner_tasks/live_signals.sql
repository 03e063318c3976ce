-- The (account, signal) pairs that fire at high severity now: an intent for one of them is still wanted.
select account_id, signal_id from marts.account_signals where severity = 'high'
