-- Messages to debtors (issue 15): templates kept in every version, the
-- outbox of messages to send (exactly once per trigger), the opaque token
-- a payment link names an account by, an account's e-mail address, and a
-- campaign's caps on dunning messages. No card data anywhere.

-- Where an e-mail goes (NULL: the account gets none); the import fills it
-- in a later change.
ALTER TABLE accounts ADD COLUMN email text
    CHECK (length(email) <= 254 AND email ~ '^[^@\s]+@[^@\s]+$');

-- Dunning messages an account may get from the campaign in any 24 hours
-- and in any 7 days (dialer.messages.rules.Caps).
ALTER TABLE campaigns
    ADD COLUMN messages_per_day integer NOT NULL DEFAULT 1
        CHECK (messages_per_day BETWEEN 0 AND 100),
    ADD COLUMN messages_per_week integer NOT NULL DEFAULT 3
        CHECK (messages_per_week BETWEEN 0 AND 700);

-- A payment link names its account by this token alone (random, 22
-- base64url characters): the page behind the link looks the account up.
CREATE TABLE account_link_tokens (
    account_id bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    token      text NOT NULL UNIQUE CHECK (token ~ '^[A-Za-z0-9_-]{16,64}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Templates, per campaign, segment ('' = any segment without its own),
-- trigger, channel and language; every version kept: a change is a new
-- row with the next version, and no row is ever updated or deleted.
CREATE TABLE message_templates (
    id          bigserial PRIMARY KEY,
    campaign_id integer NOT NULL REFERENCES campaigns (id) ON DELETE RESTRICT,
    segment     text NOT NULL CHECK (segment IN ('', 'early', 'mid', 'late')),
    trigger     text NOT NULL CHECK (trigger IN (
        'no_interaction', 'machine', 'abandoned', 'receipt', 'declined', 'plan_set_up',
        'plan_broken', 'promise_reminder', 'instalment_reminder', 'broken_promise', 'pre_due',
        'agent_link', 'opt_out_confirmation')),
    channel     text NOT NULL CHECK (channel IN ('sms', 'email')),
    language    text NOT NULL CHECK (language IN ('es', 'en')),
    version     integer NOT NULL CHECK (version > 0),
    subject     text CHECK (length(subject) <= 200),  -- e-mail only
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
    author      text NOT NULL DEFAULT '' CHECK (length(author) <= 100),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, segment, trigger, channel, language, version),
    CHECK ((channel = 'email') = (subject IS NOT NULL))
);

CREATE FUNCTION message_templates_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'message_templates is append-only: save a new version'
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER message_templates_append_only BEFORE UPDATE OR DELETE ON message_templates
    FOR EACH ROW EXECUTE FUNCTION message_templates_append_only();

-- The outbox of messages to send. One per trigger, channel and
-- idempotency key (what fired it: 'attempt:<call id>', 'payment:<outbox
-- id>', 'promise:<id>:<date>'...), however often it is written. status:
-- pending (waiting for next_try_at) -> sending (claimed by a sender with
-- SKIP LOCKED) -> sent -> delivered | undelivered (the provider's report);
-- back to pending after a failure, with capped backoff, until it is dead
-- (dead-lettered, shown and replayable); refused when a rule forbids it
-- for good (refused_rule names it).
CREATE TABLE messages (
    id                 bigserial PRIMARY KEY,
    account_id         bigint NOT NULL REFERENCES accounts (id) ON DELETE RESTRICT,
    campaign_id        integer REFERENCES campaigns (id) ON DELETE RESTRICT,
    trigger            text NOT NULL,
    channel            text NOT NULL CHECK (channel IN ('sms', 'email')),
    idempotency_key    text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN (
        'pending', 'sending', 'sent', 'delivered', 'undelivered', 'refused', 'dead')),
    attempts           integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_try_at        timestamptz NOT NULL DEFAULT now(),
    claimed_by         uuid,  -- the sender holding it while it is sending
    template_id        bigint REFERENCES message_templates (id) ON DELETE RESTRICT,
    recipient          text CHECK (length(recipient) <= 254),  -- the number or address used
    provider_reference text CHECK (length(provider_reference) <= 255),
    last_error         text CHECK (length(last_error) <= 500),
    refused_rule       text CHECK (length(refused_rule) <= 50),
    created_at         timestamptz NOT NULL DEFAULT now(),
    sent_at            timestamptz,
    dead_lettered_at   timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (trigger, channel, idempotency_key),
    CHECK ((status = 'dead') = (dead_lettered_at IS NOT NULL)),
    CHECK (status NOT IN ('sent', 'delivered', 'undelivered')
           OR (sent_at IS NOT NULL AND template_id IS NOT NULL AND recipient IS NOT NULL))
);
CREATE INDEX messages_due ON messages (next_try_at) WHERE status = 'pending';
CREATE INDEX messages_account ON messages (account_id, created_at);
CREATE INDEX messages_dead ON messages (dead_lettered_at) WHERE status = 'dead';
