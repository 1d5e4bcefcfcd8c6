-- What makes a campaign send a message (issue 15): each trigger a campaign
-- setting with its channel; the template is the campaign's for that
-- trigger, channel and the debtor's language. And what fired each message:
-- its own values (an amount, a date, a card's brand and last four, never
-- more of a card), read when the message is composed.

CREATE TABLE campaign_message_triggers (
    campaign_id    integer NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    trigger        text NOT NULL CHECK (trigger IN (
        'no_interaction', 'machine', 'abandoned', 'receipt', 'declined', 'plan_set_up',
        'plan_broken', 'promise_reminder', 'instalment_reminder', 'broken_promise',
        'pre_due')),
    channel        text NOT NULL CHECK (channel IN ('sms', 'email')),
    -- no_interaction: only a debtor who hung up within this many seconds
    -- of answering (NULL: whenever).
    within_seconds integer CHECK (within_seconds BETWEEN 1 AND 3600),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, trigger, channel),
    CHECK (within_seconds IS NULL OR trigger = 'no_interaction')
);

ALTER TABLE messages ADD COLUMN event jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(event) = 'object');

-- The confirmation of an opt-out goes even where no campaign has a template
-- for it (a STOP from a number no campaign has texted): Recobro's own
-- sentence then (dialer.messages.templates.OPT_OUT_CONFIRMED), with no
-- template version to name.
ALTER TABLE messages DROP CONSTRAINT messages_check1,
    ADD CONSTRAINT messages_sent_says_what_went CHECK (
        status NOT IN ('sent', 'delivered', 'undelivered')
        OR (sent_at IS NOT NULL AND recipient IS NOT NULL
            AND (template_id IS NOT NULL OR trigger = 'opt_out_confirmation')));
