-- The API's bearer tokens with roles, and the audit of every request that
-- changes something (issue 17). A token's secret is shown once, when it
-- is issued; only its SHA-256 is kept. api_audit is append-only: no row
-- is ever updated or deleted, nor the table truncated (the triggers below
-- refuse them); it holds no body (never card data), only who, what, when
-- and from where.

CREATE TABLE api_tokens (
    id          bigserial PRIMARY KEY,
    role        text NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    -- An agent token acts as this agent, and only a token of role agent has one.
    agent       text REFERENCES agents (endpoint),
    secret_hash bytea NOT NULL UNIQUE CHECK (octet_length(secret_hash) = 32),
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz,
    CHECK ((role = 'agent') = (agent IS NOT NULL)),
    CHECK (expires_at IS NULL OR expires_at > created_at)
);

CREATE TABLE api_audit (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    -- NULL: the bootstrap admin token (RECOBRO_API_TOKEN), which has no row.
    token_id  bigint REFERENCES api_tokens (id),
    role      text NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    agent     text,
    method    text NOT NULL,
    path      text NOT NULL,
    status    integer NOT NULL,
    remote    text NOT NULL DEFAULT ''
);

CREATE INDEX api_audit_at ON api_audit (at);

CREATE FUNCTION api_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'api_audit is append-only: rows are never changed or deleted';
END;
$$;

CREATE TRIGGER api_audit_append_only BEFORE UPDATE OR DELETE ON api_audit
    FOR EACH ROW EXECUTE FUNCTION api_audit_append_only();
CREATE TRIGGER api_audit_never_truncated BEFORE TRUNCATE ON api_audit
    FOR EACH STATEMENT EXECUTE FUNCTION api_audit_append_only();

-- A correction of a disposition (a supervisor's, audited) names the one it
-- corrects; an agent's own disposition corrects none.
ALTER TABLE dispositions ADD COLUMN corrects bigint REFERENCES dispositions (id);
