-- Collections: accounts and their phones, campaigns with per-segment
-- strategies, the leads of each campaign (the hopper), attempts, agent
-- dispositions, do-not-call entries, and import quarantine.

ALTER TABLE calls ADD COLUMN direction text NOT NULL DEFAULT 'outbound'
    CHECK (direction IN ('outbound', 'inbound'));

CREATE TABLE accounts (
    id             bigserial PRIMARY KEY,
    reference      text NOT NULL UNIQUE,
    debtor_name    text NOT NULL,
    balance        numeric(14, 2) NOT NULL CHECK (balance >= 0),
    currency       char(3) NOT NULL,
    days_past_due  integer NOT NULL CHECK (days_past_due >= 0),
    client_segment text NOT NULL DEFAULT '',
    risk_score     double precision NOT NULL CHECK (risk_score BETWEEN 0 AND 1),
    language       text NOT NULL CHECK (language IN ('es', 'en')),
    -- Empty: the time zones of the phone dialed decide the calling window.
    time_zone      text NOT NULL DEFAULT '',
    status         text NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'paid', 'settled', 'disputed', 'closed')),
    imported_at    timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE phones (
    id            bigserial PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    position      integer NOT NULL,
    number        text NOT NULL,  -- E.164
    kind          text NOT NULL CHECK (kind IN ('mobile', 'home', 'work', 'other')),
    sms_capable   boolean NOT NULL,
    consent       boolean NOT NULL,
    region        text NOT NULL,  -- ISO country of the number, for holidays
    time_zones    text[] NOT NULL,  -- every zone the number may be in
    UNIQUE (account_id, number),
    UNIQUE (account_id, position)
);

CREATE INDEX phones_number ON phones (number);

CREATE TABLE do_not_call (
    id        bigserial PRIMARY KEY,
    number    text,  -- E.164; NULL when the entry covers a whole account
    reference text,  -- account reference; NULL when the entry is a number
    reason    text NOT NULL CHECK (reason IN ('dnc', 'opt_out')),
    added_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((number IS NULL) <> (reference IS NULL))
);

CREATE UNIQUE INDEX do_not_call_number ON do_not_call (number) WHERE number IS NOT NULL;
CREATE UNIQUE INDEX do_not_call_reference ON do_not_call (reference) WHERE reference IS NOT NULL;

CREATE TABLE campaigns (
    id             serial PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    state          text NOT NULL DEFAULT 'stopped'
        CHECK (state IN ('stopped', 'running', 'paused')),
    dial_mode      text NOT NULL CHECK (dial_mode IN ('preview', 'progressive', 'ratio', 'predictive')),
    dial_ratio     double precision NOT NULL DEFAULT 2.0 CHECK (dial_ratio >= 1),
    abandon_target double precision NOT NULL DEFAULT 0.03 CHECK (abandon_target > 0 AND abandon_target < 1),
    caller_id      text NOT NULL,
    window_profile text NOT NULL,
    ring_timeout_s integer NOT NULL DEFAULT 25 CHECK (ring_timeout_s BETWEEN 5 AND 120),
    wrap_up_s      integer NOT NULL DEFAULT 5 CHECK (wrap_up_s >= 0),
    early_max_dpd  integer NOT NULL DEFAULT 30,
    mid_max_dpd    integer NOT NULL DEFAULT 90,
    segments       text[] NOT NULL DEFAULT '{early,mid,late}',
    portfolio      text NOT NULL DEFAULT '',  -- accounts' client_segment; '' = all
    amd            boolean NOT NULL DEFAULT false,  -- answering-machine detection
    machine_action text NOT NULL DEFAULT 'hang_up'
        CHECK (machine_action IN ('hang_up', 'leave_message')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (0 < early_max_dpd AND early_max_dpd < mid_max_dpd)
);

CREATE TABLE strategies (
    campaign_id        integer NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    segment            text NOT NULL CHECK (segment IN ('early', 'mid', 'late')),
    dial_mode          text NOT NULL CHECK (dial_mode IN ('preview', 'progressive', 'ratio', 'predictive')),
    priority           integer NOT NULL,
    max_attempts       integer NOT NULL CHECK (max_attempts > 0),
    retry_busy_s       integer NOT NULL,
    retry_no_answer_s  integer NOT NULL,
    retry_machine_s    integer NOT NULL,
    retry_abandoned_s  integer NOT NULL,
    retry_failed_s     integer NOT NULL,
    retry_hung_up_s    integer NOT NULL,
    PRIMARY KEY (campaign_id, segment)
);

-- One lead per account in a campaign. state: ready (waiting for
-- next_callable_at), dialing (an attempt in flight), done (never again).
CREATE TABLE leads (
    campaign_id      integer NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    account_id       bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    segment          text NOT NULL,
    state            text NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'dialing', 'done')),
    next_callable_at timestamptz NOT NULL DEFAULT '-infinity',
    attempts         integer NOT NULL DEFAULT 0,
    priority         integer NOT NULL,  -- the segment strategy's
    dialer_id        uuid,  -- the dialer holding the lead while it is dialing
    -- balance x chance to pay: the part of the lead's value that does not
    -- depend on the hour; kept here so the hopper can use an index.
    value            double precision NOT NULL,
    time_zone        text NOT NULL,  -- the zone the window is checked in first
    done_reason      text NOT NULL DEFAULT '',
    PRIMARY KEY (campaign_id, account_id)
);

CREATE INDEX leads_hopper ON leads (campaign_id, time_zone, priority DESC, value DESC)
    WHERE state = 'ready';

-- Dialer processes: each holds a session advisory lock on its id while it
-- lives, so another can tell a dead dialer's attempts from a live one's.
CREATE TABLE dialers (
    id          uuid PRIMARY KEY,
    lock_key    bigserial UNIQUE,
    campaign_id integer NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    pid         integer NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE attempts (
    id           uuid PRIMARY KEY,  -- the call id (and Asterisk channel id)
    campaign_id  integer NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    phone_id     bigint NOT NULL REFERENCES phones (id) ON DELETE CASCADE,
    number       text NOT NULL,
    dialer_id    uuid NOT NULL REFERENCES dialers (id),
    segment      text NOT NULL,
    started_at   timestamptz NOT NULL,
    answered_at  timestamptz,
    verdict_at   timestamptz,  -- with AMD: when the verdict came
    amd_status   text NOT NULL DEFAULT '',  -- HUMAN, MACHINE, NOTSURE, HANGUP
    agent        text,  -- the agent endpoint bridged to the debtor
    agent_channel text,  -- the agent's leg (an Asterisk channel id)
    recording    text,  -- MixMonitor's file, in Asterisk's monitor directory
    recording_paused boolean NOT NULL DEFAULT false,
    connected_at timestamptz,  -- when the agent was bridged
    ended_at     timestamptz,
    result       text CHECK (result IN ('conversation', 'abandoned', 'machine', 'hung_up',
                                        'busy', 'no_answer', 'failed', 'lost')),
    CHECK ((ended_at IS NULL) = (result IS NULL))
);

CREATE INDEX attempts_account ON attempts (account_id, started_at);
CREATE INDEX attempts_in_flight ON attempts (campaign_id) WHERE ended_at IS NULL;

-- Attempts that reached no one to talk to (a machine, an abandoned or
-- hung-up call): an outbox for the follow-up (an SMS with a way to pay).
CREATE TABLE no_interaction (
    attempt_id   uuid PRIMARY KEY REFERENCES attempts (id),
    account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    number       text NOT NULL,
    result       text NOT NULL,
    at           timestamptz NOT NULL,
    handled_at   timestamptz
);

CREATE TABLE disposition_codes (
    code        text PRIMARY KEY,
    description text NOT NULL,
    -- What the code does to the account or the lead.
    effect      text NOT NULL CHECK (effect IN ('none', 'paid', 'disputed', 'opt_out',
                                                'wrong_number', 'callback'))
);

INSERT INTO disposition_codes (code, description, effect) VALUES
    ('PTP', 'promise to pay', 'none'),
    ('PAID', 'paid during the call', 'paid'),
    ('RPC', 'right party contact, no promise', 'none'),
    ('REFUSED', 'refused to pay', 'none'),
    ('DISPUTE', 'debt disputed', 'disputed'),
    ('OPT_OUT', 'asked not to be called', 'opt_out'),
    ('WRONG_NUMBER', 'wrong party / wrong number', 'wrong_number'),
    ('CALLBACK', 'asked to be called back', 'callback');

CREATE TABLE dispositions (
    id         bigserial PRIMARY KEY,
    attempt_id uuid NOT NULL REFERENCES attempts (id),
    code       text NOT NULL REFERENCES disposition_codes (code),
    agent      text NOT NULL,
    note       text NOT NULL DEFAULT '',
    at         timestamptz NOT NULL DEFAULT now()
);

-- Agents on SIP softphones. A dialer reserves a ready agent with SKIP
-- LOCKED; wrap-up ends by itself at wrap_up_until.
CREATE TABLE agents (
    endpoint      text PRIMARY KEY,
    name          text NOT NULL,
    state         text NOT NULL DEFAULT 'logged_out'
        CHECK (state IN ('logged_out', 'ready', 'reserved', 'on_call', 'wrap_up', 'paused')),
    state_since   timestamptz NOT NULL DEFAULT now(),
    wrap_up_until timestamptz,
    attempt_id    uuid,
    pause_reason  text NOT NULL DEFAULT ''
);

CREATE TABLE agent_skills (
    endpoint text NOT NULL REFERENCES agents (endpoint) ON DELETE CASCADE,
    skill    text NOT NULL,  -- language:es, segment:late, tier:high, negotiation...
    level    integer NOT NULL CHECK (level BETWEEN 1 AND 5),
    PRIMARY KEY (endpoint, skill)
);

CREATE TABLE compliance_refusals (
    id          bigserial PRIMARY KEY,
    campaign_id integer NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    stage       text NOT NULL CHECK (stage IN ('claim', 'dial')),
    rule        text NOT NULL,
    detail      text NOT NULL,
    at          timestamptz NOT NULL
);

CREATE INDEX compliance_refusals_campaign ON compliance_refusals (campaign_id, at);

CREATE TABLE import_batches (
    id          bigserial PRIMARY KEY,
    source      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    accepted    integer NOT NULL,
    quarantined integer NOT NULL
);

CREATE TABLE import_quarantine (
    id       bigserial PRIMARY KEY,
    batch_id bigint NOT NULL REFERENCES import_batches (id) ON DELETE CASCADE,
    line     integer NOT NULL,
    reason   text NOT NULL,
    raw      text NOT NULL
);

-- Debtors who called in: how they were identified and who took the call.
CREATE TABLE inbound_calls (
    id            uuid PRIMARY KEY,
    call_id       uuid NOT NULL REFERENCES calls (id),
    caller        text NOT NULL,
    account_id    bigint REFERENCES accounts (id) ON DELETE SET NULL,
    identified_by text NOT NULL CHECK (identified_by IN ('caller_id', 'account_number', 'none')),
    arrived_at    timestamptz NOT NULL,
    agent         text,
    connected_at  timestamptz,
    ended_at      timestamptz
);

-- Debtors who, waiting for an agent, chose to be called back.
CREATE TABLE callbacks (
    inbound_id   uuid PRIMARY KEY REFERENCES inbound_calls (id),
    account_id   bigint REFERENCES accounts (id) ON DELETE CASCADE,
    number       text NOT NULL,
    requested_at timestamptz NOT NULL,
    handled_at   timestamptz
);

-- Promises to pay made without an agent (the self-service IVR).
CREATE TABLE promises (
    id         bigserial PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    inbound_id uuid REFERENCES inbound_calls (id),
    amount     numeric(14, 2) NOT NULL,
    due_by     date NOT NULL,
    source     text NOT NULL CHECK (source IN ('ivr', 'agent')),
    at         timestamptz NOT NULL
);
