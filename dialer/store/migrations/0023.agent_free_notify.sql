-- An agent coming free is announced (issue 20): an answered debtor waiting
-- for an agent, or a caller waiting in line, wakes when one does instead of
-- asking PostgreSQL every few milliseconds. NOTIFY on recobro_agent_free,
-- sent on commit, when an agent becomes ready or starts a wrap-up (the
-- payload: the wrap-up's end, when the agent is free, or '' for now), and
-- when an agent's skills change (a waiting call may now match). Waiters
-- still look now and then: a notification is a hint, not the truth
-- (dialer.agents.freed).

CREATE FUNCTION agent_free_notified() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'agent_skills' THEN
        PERFORM pg_notify('recobro_agent_free', '');
        RETURN NULL;
    END IF;
    IF NEW.state NOT IN ('ready', 'wrap_up') OR (TG_OP = 'UPDATE' AND NEW.state = OLD.state
       AND NEW.wrap_up_until IS NOT DISTINCT FROM OLD.wrap_up_until) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('recobro_agent_free',
                      CASE WHEN NEW.state = 'wrap_up' AND NEW.wrap_up_until IS NOT NULL
                           THEN to_char(NEW.wrap_up_until AT TIME ZONE 'UTC',
                                        'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
                           ELSE '' END);
    RETURN NULL;
END;
$$;

CREATE TRIGGER agent_free_notified AFTER INSERT OR UPDATE ON agents
    FOR EACH ROW EXECUTE FUNCTION agent_free_notified();
CREATE TRIGGER agent_free_notified AFTER INSERT OR UPDATE ON agent_skills
    FOR EACH ROW EXECUTE FUNCTION agent_free_notified();
