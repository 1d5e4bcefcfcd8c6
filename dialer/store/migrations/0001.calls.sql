-- Calls and their events. call_events is append-only: every transition of
-- every call is written there; calls is the projection of the latest state.
CREATE TABLE calls (
    id                uuid PRIMARY KEY,
    number            text NOT NULL,
    state             text NOT NULL,
    outcome           text,
    originated_at     timestamptz NOT NULL,
    ringing_at        timestamptz,
    answered_at       timestamptz,
    ended_at          timestamptz,
    hangup_cause      integer,
    hangup_cause_text text NOT NULL DEFAULT '',
    originate_reason  integer,
    hung_up_by_app    boolean NOT NULL DEFAULT false,
    dtmf_count        integer NOT NULL DEFAULT 0,
    ring_seconds      double precision GENERATED ALWAYS AS
        (extract(epoch FROM (coalesce(answered_at, ended_at) - originated_at))) STORED,
    talk_seconds      double precision GENERATED ALWAYS AS
        (extract(epoch FROM (ended_at - answered_at))) STORED,
    CONSTRAINT calls_outcome_known CHECK (outcome IS NULL OR outcome IN
        ('answered', 'callee_hung_up', 'busy', 'no_answer', 'failed')),
    CONSTRAINT calls_ended_has_outcome CHECK ((state = 'ended') = (outcome IS NOT NULL))
);

CREATE INDEX calls_originated_at ON calls (originated_at);

CREATE TABLE call_events (
    id          bigserial PRIMARY KEY,
    call_id     uuid NOT NULL REFERENCES calls (id),
    at          timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX call_events_call ON call_events (call_id, id);

CREATE FUNCTION call_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'call_events is append-only';
END;
$$;

CREATE TRIGGER call_events_append_only
    BEFORE UPDATE OR DELETE ON call_events
    FOR EACH ROW EXECUTE FUNCTION call_events_append_only();
