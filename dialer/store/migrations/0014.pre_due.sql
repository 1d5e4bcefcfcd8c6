-- The pre-due reminder (issue 15): an account's next due date, as a
-- collections file carries it for an account not yet past due, and how
-- many days before it a campaign's reminder goes.

ALTER TABLE accounts ADD COLUMN due_date date;

-- The sender's intake looks for the accounts due in a few days on every
-- round: only active accounts not past due are ever reminded, so only they
-- are indexed (dialer.messages.intake._pre_due repeats this predicate).
CREATE INDEX accounts_pre_due ON accounts (due_date)
    WHERE due_date IS NOT NULL AND status = 'active' AND days_past_due = 0;

-- pre_due only, and always for it: a pre_due setting switched on before
-- this column existed gets the default, 3 days.
ALTER TABLE campaign_message_triggers ADD COLUMN days_before integer
    CHECK (days_before BETWEEN 1 AND 30);
UPDATE campaign_message_triggers SET days_before = 3 WHERE trigger = 'pre_due';
ALTER TABLE campaign_message_triggers ADD CONSTRAINT campaign_message_triggers_days_before_pre_due
    CHECK ((days_before IS NOT NULL) = (trigger = 'pre_due'));
