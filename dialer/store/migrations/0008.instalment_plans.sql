-- Instalment plans charged on their dates, and payment events for the
-- messages to debtors (issue 14). Still no column holds a card number, an
-- expiry or a CVV: the gateway's token and reference, brand and last four.

-- A plan's instalments as the scheduler moves them
-- (payment_ivr/instalments.py): due -> in_flight -> paid, or failed (a
-- decline, tried again on retry_on), missed (the last try declined: the
-- plan is broken), cancelled (the plan broke or ended, the account left it).
ALTER TABLE payment_instalments DROP CONSTRAINT payment_instalments_status_check,
    ADD CONSTRAINT payment_instalments_status_check
        CHECK (status IN ('due', 'in_flight', 'paid', 'failed', 'missed', 'cancelled')),
    ADD COLUMN declines integer NOT NULL DEFAULT 0 CHECK (declines >= 0),
    ADD COLUMN retry_on date,  -- after a decline: the next try's day (the debtor's date)
    -- The last decline's code (failed, missed), or why it was cancelled.
    ADD COLUMN reason text CHECK (length(reason) <= 255),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX payment_instalments_open ON payment_instalments (due)
    WHERE status IN ('due', 'in_flight', 'failed');

-- A charge of an instalment is a payment attempt of the plan's capture
-- (its own idempotency key, written in flight before its request, like a
-- capture's), naming the instalment. NULL: an attempt made during a call.
ALTER TABLE payment_attempts ADD COLUMN instalment integer,
    ADD CONSTRAINT payment_attempts_instalment_fkey FOREIGN KEY (capture_id, instalment)
        REFERENCES payment_instalments (capture_id, number) ON DELETE RESTRICT;

-- The outbox of payment events for the messages to debtors (issue 15
-- sends them; handled_at is its to set), like no_interaction: written in
-- the same transaction as what it tells of, once each. A receipt for each
-- approved attempt (a capture's, an instalment's); a decline for a capture
-- that ended declined and for each declined charge of an instalment (with
-- its retry day, none when it was the last); a plan set up; a plan broken.
-- Never card data: brand and last four at most.
CREATE TABLE payment_outbox (
    id                bigserial PRIMARY KEY,
    kind              text NOT NULL
        CHECK (kind IN ('receipt', 'declined', 'plan_set_up', 'plan_broken')),
    account_id        bigint NOT NULL REFERENCES accounts (id) ON DELETE RESTRICT,
    capture_id        uuid NOT NULL,
    -- The attempt told of (a receipt, an instalment's decline); NULL for
    -- what tells of a whole capture or plan.
    idempotency_key   text REFERENCES payment_attempts (idempotency_key) ON DELETE RESTRICT,
    instalment        integer,
    amount            numeric(14, 2) NOT NULL CHECK (amount > 0),
    currency          char(3) NOT NULL,
    brand             text CHECK (length(brand) <= 20),
    last4             char(4) CHECK (last4 ~ '^[0-9]{4}$'),
    gateway_reference text CHECK (length(gateway_reference) <= 255),
    decline_reason    text CHECK (length(decline_reason) <= 255),
    retry_on          date,
    at                timestamptz NOT NULL DEFAULT now(),
    handled_at        timestamptz
);
CREATE UNIQUE INDEX payment_outbox_once
    ON payment_outbox (kind, coalesce(idempotency_key, capture_id::text));
CREATE INDEX payment_outbox_unhandled ON payment_outbox (id) WHERE handled_at IS NULL;
