-- An agent's skill taken away is announced as well (0023 announces a
-- skill given or changed): a dialer keeps the free agents it last read,
-- with their skills, until an announcement (dialer.agents.free_seen), and
-- without this one would still offer a call to an agent who lost the
-- skill it needs. The function of 0023 and 0027 NOTIFYs for any change of
-- agent_skills and reads no row of it.

CREATE TRIGGER agent_skill_removed_notified AFTER DELETE ON agent_skills
    FOR EACH ROW EXECUTE FUNCTION agent_free_notified();
