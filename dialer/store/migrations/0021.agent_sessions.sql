-- Agent sessions (issue 18, item 1): an agent's line held open for the
-- shift. Recobro called the agent's phone once; the answered leg (channel)
-- waits in a mixing bridge of the agent's own (the bridge has the
-- channel's id), and each answered debtor routed to the agent joins it.
-- A session closes when the agent hangs up (hung_up) or is logged out
-- (logged_out); the agent is logged out with it. At most one open session
-- per agent.

CREATE TABLE agent_sessions (
    channel      text PRIMARY KEY,
    agent        text NOT NULL REFERENCES agents (endpoint) ON DELETE CASCADE,
    opened_at    timestamptz NOT NULL,
    closed_at    timestamptz,
    close_reason text CHECK (close_reason IN ('hung_up', 'logged_out')),
    CHECK ((closed_at IS NULL) = (close_reason IS NULL))
);

CREATE UNIQUE INDEX agent_sessions_open ON agent_sessions (agent) WHERE closed_at IS NULL;
