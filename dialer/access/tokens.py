"""The API's tokens and audit in PostgreSQL (migration 0017): issue (the
secret returned once, its SHA-256 kept), list, revoke, find the token a
request shows; whether an agent owns a call or a debtor; and the
append-only audit of requests that change something."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from dialer.access.roles import Own, Principal, Role, new_secret, secret_hash
from dialer.errors import ConfigError


@dataclass(frozen=True)
class TokenRecord:
    """A token as `recobro token list` shows it (never its secret)."""

    id: int
    role: Role
    agent: str | None
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


class UnknownToken(ConfigError):
    """No token has that id."""


# A call is the agent's when it took it (connected: attempts.agent,
# inbound_calls.agent) or is reserved for it now (agents.attempt_id: the
# screen pop came before the phone rings).
_OWNS_CALL = """
SELECT EXISTS (SELECT 1 FROM attempts WHERE id = $1 AND agent = $2)
    OR EXISTS (SELECT 1 FROM inbound_calls WHERE id = $1 AND agent = $2)
    OR EXISTS (SELECT 1 FROM agents WHERE endpoint = $2 AND attempt_id = $1)
"""
# A debtor is the agent's when one of its calls is.
_OWNS_ACCOUNT = """
SELECT EXISTS (
    SELECT 1 FROM accounts c WHERE c.reference = $1 AND (
        EXISTS (SELECT 1 FROM attempts t WHERE t.account_id = c.id AND t.agent = $2)
        OR EXISTS (SELECT 1 FROM inbound_calls i WHERE i.account_id = c.id AND i.agent = $2)
        OR EXISTS (SELECT 1 FROM agents a JOIN attempts t ON t.id = a.attempt_id
                   WHERE a.endpoint = $2 AND t.account_id = c.id)
        OR EXISTS (SELECT 1 FROM agents a JOIN inbound_calls i ON i.id = a.attempt_id
                   WHERE a.endpoint = $2 AND i.account_id = c.id)))
"""


class TokenStore:
    """The api_tokens and api_audit tables."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def issue(self, role: Role, agent: str | None, label: str, now: datetime,
                    lifetime: timedelta | None) -> tuple[int, str]:
        """A new token: its id and its secret (shown once: only the hash is kept)."""
        if (role is Role.AGENT) != (agent is not None):
            raise ConfigError("--agent: an agent token names its agent (--agent agent1001), "
                              "and only an agent token does")
        async with self.pool.acquire() as connection, connection.transaction():
            if agent is not None and await connection.fetchval(
                    "SELECT 1 FROM agents WHERE endpoint = $1", agent) is None:
                raise ConfigError(f"--agent: no agent {agent!r} (see `recobro agent list`)")
            secret = new_secret()
            token_id = await connection.fetchval(
                "INSERT INTO api_tokens (role, agent, secret_hash, label, created_at, "
                "expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", role.value, agent,
                secret_hash(secret), label, now, None if lifetime is None else now + lifetime)
        return token_id, secret

    async def list(self) -> list[TokenRecord]:
        rows = await self.pool.fetch(
            "SELECT id, role, agent, label, created_at, expires_at, revoked_at "
            "FROM api_tokens ORDER BY id")
        return [TokenRecord(r["id"], Role(r["role"]), r["agent"], r["label"], r["created_at"],
                            r["expires_at"], r["revoked_at"]) for r in rows]

    async def revoke(self, token_id: int, now: datetime) -> bool:
        """Revoke a token from now; False when it was revoked already."""
        async with self.pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                "SELECT revoked_at FROM api_tokens WHERE id = $1 FOR UPDATE", token_id)
            if row is None:
                raise UnknownToken(f"no token {token_id} (see `recobro token list`)")
            if row["revoked_at"] is not None:
                return False
            await connection.execute("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1",
                                     token_id, now)
        return True

    async def principal(self, secret: str, now: datetime) -> Principal | None:
        """Who the secret is, or None: unknown, expired or revoked."""
        row = await self.pool.fetchrow(
            "SELECT id, role, agent FROM api_tokens WHERE secret_hash = $1 "
            "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
            secret_hash(secret), now)
        return None if row is None else Principal(row["id"], Role(row["role"]), row["agent"])

    async def owns(self, agent: str, own: Own, value: str) -> bool:
        """Whether the agent owns what the path names (Own.CALL: a call id,
        Own.ACCOUNT: an account's reference)."""
        if own is Own.CALL:
            try:
                call = uuid.UUID(value)
            except ValueError:
                return False
            return await self.pool.fetchval(_OWNS_CALL, call, agent)
        if own is Own.ACCOUNT:
            return await self.pool.fetchval(_OWNS_ACCOUNT, value, agent)
        raise ValueError(f"{own} is not owned in the database")

    async def audit(self, principal: Principal, method: str, path: str, status: int,
                    remote: str, now: datetime) -> None:
        """One request that changed something (or tried to): who, what, when,
        from where. Never a body."""
        await self.pool.execute(
            "INSERT INTO api_audit (at, token_id, role, agent, method, path, status, remote) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", now, principal.token_id,
            principal.role.value, principal.agent, method, path, status, remote)
