-- Every change of an agent's state, kept by the database itself (issue 19:
-- occupancy and agents' wait between calls need the time each agent spent
-- in each state, which the agents table forgets at the next change). A
-- wrap-up keeps its timer: it ends by itself at wrap_up_until with no
-- write (dialer.agents.state.settled), so readers settle it the same way.
-- `since` is the agents row's state_since, or the moment of the change
-- when a writer moved the state without it (a dead dialer's reservations
-- released).

CREATE TABLE agent_state_log (
    id            bigserial PRIMARY KEY,
    endpoint      text NOT NULL,
    state         text NOT NULL,
    since         timestamptz NOT NULL,
    wrap_up_until timestamptz
);

CREATE INDEX agent_state_log_since ON agent_state_log (since, endpoint);
CREATE INDEX agent_state_log_endpoint ON agent_state_log (endpoint, since);

INSERT INTO agent_state_log (endpoint, state, since, wrap_up_until)
SELECT endpoint, state, state_since, wrap_up_until FROM agents;

CREATE FUNCTION agent_state_logged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.state = OLD.state AND NEW.state_since = OLD.state_since
       AND NEW.wrap_up_until IS NOT DISTINCT FROM OLD.wrap_up_until THEN
        RETURN NULL;
    END IF;
    INSERT INTO agent_state_log (endpoint, state, since, wrap_up_until)
    VALUES (NEW.endpoint, NEW.state,
            CASE WHEN TG_OP = 'UPDATE' AND NEW.state_since = OLD.state_since
                 THEN now() ELSE NEW.state_since END,
            NEW.wrap_up_until);
    RETURN NULL;
END;
$$;

CREATE TRIGGER agent_state_logged AFTER INSERT OR UPDATE ON agents
    FOR EACH ROW EXECUTE FUNCTION agent_state_logged();
