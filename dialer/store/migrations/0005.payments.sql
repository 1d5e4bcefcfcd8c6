-- Payments (issue 14): each attempt sent to the card gateway, each
-- capture's result, a plan's schedule, promises made in a capture, and
-- accounts in a plan. No column holds a card number, an expiry or a CVV:
-- the gateway's token and reference, the brand and last four at most.

ALTER TABLE accounts DROP CONSTRAINT accounts_status_check,
    ADD CONSTRAINT accounts_status_check
        CHECK (status IN ('active', 'paid', 'settled', 'in_plan', 'disputed', 'closed'));

-- One row per authorisation, written in flight before its request (with
-- the idempotency key every request and look-up for it carries), then
-- approved, declined, or failed (nothing charged). An attempt a crash left
-- in flight is settled by asking the gateway about its key.
CREATE TABLE payment_attempts (
    capture_id        uuid NOT NULL,
    attempt           integer NOT NULL CHECK (attempt >= 1),
    idempotency_key   text NOT NULL UNIQUE,
    account_id        bigint NOT NULL REFERENCES accounts (id) ON DELETE RESTRICT,
    call_id           text,
    amount            numeric(14, 2) NOT NULL CHECK (amount > 0),
    currency          char(3) NOT NULL,
    save_card         boolean NOT NULL,
    status            text NOT NULL DEFAULT 'in_flight'
        CHECK (status IN ('in_flight', 'approved', 'declined', 'failed')),
    brand             text NOT NULL CHECK (length(brand) <= 20),
    last4             char(4) NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    gateway_reference text CHECK (length(gateway_reference) <= 255),
    token             text CHECK (length(token) <= 255),
    decline_reason    text CHECK (length(decline_reason) <= 255),  -- the gateway's code
    failure           text CHECK (length(failure) <= 255),  -- why nothing was charged
    -- Whether this attempt's money has lowered the account's balance.
    applied           boolean NOT NULL DEFAULT false,
    started_at        timestamptz NOT NULL DEFAULT now(),
    answered_at       timestamptz,
    PRIMARY KEY (capture_id, attempt)
);
CREATE INDEX payment_attempts_in_flight ON payment_attempts (started_at)
    WHERE status = 'in_flight';

-- How each capture ended (every outcome, hang-ups included), once.
CREATE TABLE payment_captures (
    capture_id        uuid PRIMARY KEY,
    account_id        bigint NOT NULL REFERENCES accounts (id) ON DELETE RESTRICT,
    call_id           text,
    outcome           text NOT NULL CHECK (outcome IN ('paid', 'plan_set_up', 'promised',
        'declined', 'gateway_down', 'abandoned', 'unplayable', 'hung_up')),
    option            text CHECK (option IN ('full', 'settlement', 'plan', 'promise')),
    amount            numeric(14, 2),
    currency          char(3),
    brand             text CHECK (length(brand) <= 20),
    last4             char(4) CHECK (last4 ~ '^[0-9]{4}$'),
    gateway_reference text CHECK (length(gateway_reference) <= 255),
    promise_date      date,
    attempts          integer NOT NULL CHECK (attempts >= 0),
    decline_reason    text CHECK (length(decline_reason) <= 255),
    recorded_at       timestamptz NOT NULL DEFAULT now()
);

-- A plan's payments: the first charged in the capture, the others due on
-- their dates from the kept card (a scheduler charges them: not built yet).
CREATE TABLE payment_instalments (
    capture_id   uuid NOT NULL REFERENCES payment_captures (capture_id) ON DELETE RESTRICT,
    number       integer NOT NULL CHECK (number >= 1),
    account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE RESTRICT,
    due          date NOT NULL,
    amount       numeric(14, 2) NOT NULL CHECK (amount > 0),
    currency     char(3) NOT NULL,
    status       text NOT NULL CHECK (status IN ('due', 'paid', 'failed')),
    PRIMARY KEY (capture_id, number)
);

ALTER TABLE promises ADD COLUMN capture_id uuid
    REFERENCES payment_captures (capture_id) ON DELETE RESTRICT;
