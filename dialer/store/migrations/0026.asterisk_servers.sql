-- A campaign spread over several Asterisk servers (issue 20, item 2). Each
-- dialer is bound to one server (RECOBRO_ASTERISK_NAME), and each agent's
-- softphone registers to one: per-server agent pools, so a debtor and the
-- agent who takes the call always meet on one server (no trunk between
-- servers carrying the call's audio). An agent with no server (NULL) takes
-- calls from any: what a deployment with one Asterisk needs. A session's
-- line is on the server whose API opened it: while it is open, that is the
-- agent's server. Rows from before servers had names are the default's.
ALTER TABLE dialers ADD COLUMN asterisk text NOT NULL DEFAULT 'asterisk';
ALTER TABLE agents ADD COLUMN asterisk text;
ALTER TABLE agent_sessions ADD COLUMN asterisk text NOT NULL DEFAULT 'asterisk';
