-- What each campaign's pacing heard, in the order and at the moment it
-- heard it (issue 16): a dialer that starts or restarts reads its recent
-- history back (answer rate by hour; talk, wrap-up and time-to-answer
-- samples; the live answers and abandons of the regulator's open windows)
-- instead of relearning from zero. `since` is when what ended began: the
-- dial of a resolved call, the answer of a connected or abandoned one, the
-- start of a talk or of a wrap-up. And the closed loop's last state.

CREATE TABLE pacing_heard (
    id          bigserial PRIMARY KEY,  -- the order heard
    campaign_id integer NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    dialer_id   uuid NOT NULL,
    heard_at    timestamptz NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('resolved', 'connected', 'abandoned',
                                              'talk_ended', 'wrap_up_ended')),
    at          timestamptz NOT NULL,
    since       timestamptz NOT NULL,
    result      text CHECK ((kind = 'resolved') = (result IS NOT NULL))
);

CREATE INDEX pacing_heard_recent ON pacing_heard (campaign_id, at);

CREATE TABLE pacing_state (
    campaign_id integer PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    saved_at    timestamptz NOT NULL,
    log_lambda  double precision NOT NULL  -- the predictive policy's closed loop
);
