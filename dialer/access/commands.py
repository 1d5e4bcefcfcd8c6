"""What `recobro token ...` does: issue a token for the API (its secret
printed once), list the tokens (never a secret), revoke one."""

from __future__ import annotations

from datetime import UTC, datetime

from dialer import limits
from dialer.access.roles import Role, parse_lifetime
from dialer.access.tokens import TokenStore
from dialer.errors import ConfigError
from dialer.store.database import configured_database


async def issue_token(role: str, agent: str | None, expires_in: str | None,
                      label: str) -> int:
    """Issue a token; print its id, what it may do, and its secret (the
    only time it is shown)."""
    try:
        lifetime = None if expires_in is None else parse_lifetime(expires_in)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    limits.check_text("--label", label, required=False)
    async with configured_database() as pool:
        token_id, secret = await TokenStore(pool).issue(Role(role), agent, label,
                                                        datetime.now(UTC), lifetime)
    print(f"token {token_id}: {role}" + (f" {agent}" if agent else "")
          + (f", expires in {expires_in}" if expires_in else ", no expiry"))
    print("its secret (shown once, never again; send it as Authorization: Bearer ...):")
    print(secret)
    return 0


async def list_tokens() -> int:
    """Every token: id, role, agent, status, dates, label; no secret."""
    now = datetime.now(UTC)
    async with configured_database() as pool:
        tokens = await TokenStore(pool).list()
    print(f"{'id':<6}{'role':<12}{'agent':<12}{'status':<9}{'created':<22}{'expires':<22}label")
    for t in tokens:
        expires = t.expires_at.strftime("%Y-%m-%d %H:%M UTC") if t.expires_at else "never"
        print(f"{t.id:<6}{t.role.value:<12}{t.agent or '-':<12}{t.status(now):<9}"
              f"{t.created_at.strftime('%Y-%m-%d %H:%M UTC'):<22}{expires:<22}{t.label}")
    return 0


async def revoke_token(token_id: int) -> int:
    """Revoke a token from now (its next request is a 401)."""
    async with configured_database() as pool:
        revoked = await TokenStore(pool).revoke(token_id, datetime.now(UTC))
    print(f"token {token_id}: revoked" + ("" if revoked else " already"))
    return 0
