-- An agent free on one Asterisk server may be moved to another (issue 20's
-- `recobro agents server`, `PUT /agents/{endpoint}/asterisk`): announced as
-- an agent coming free, since for the dialers of its new server it does.
-- A dialer keeps the free agents it last read until an announcement
-- (dialer.agents.free_seen); without this one, an agent moved to its
-- server would wait unseen for the next. Otherwise as in 0023.

CREATE OR REPLACE FUNCTION agent_free_notified() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'agent_skills' THEN
        PERFORM pg_notify('recobro_agent_free', '');
        RETURN NULL;
    END IF;
    IF NEW.state NOT IN ('ready', 'wrap_up') OR (TG_OP = 'UPDATE' AND NEW.state = OLD.state
       AND NEW.wrap_up_until IS NOT DISTINCT FROM OLD.wrap_up_until
       AND NEW.asterisk IS NOT DISTINCT FROM OLD.asterisk) THEN
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
