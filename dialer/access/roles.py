"""Who may use which route of the API (issue 17): the roles a bearer token
has, the table of routes and the roles each allows, and what an agent's
token must own for a route to be its: the agent in the path, a call it
took, a debtor it spoke to. Pure: the middleware (dialer.http) looks the
token up and the ownership in PostgreSQL, and asks this module."""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta


class Role(enum.Enum):
    ADMIN = "admin"  # everything, and the tokens (by CLI)
    SUPERVISOR = "supervisor"  # every agent's state, calls and debtors; templates
    AGENT = "agent"  # its own state, calls, debtors and screen pops only


@dataclass(frozen=True)
class Principal:
    """Who a request's token says it is. token_id None: the bootstrap
    admin token (RECOBRO_API_TOKEN), which has no row."""

    token_id: int | None
    role: Role
    agent: str | None = None  # an agent token's agent (and only theirs)

    @property
    def name(self) -> str:
        """Who acted, as a record of it says: the agent or the role, and the token."""
        if self.token_id is None:
            return "admin (RECOBRO_API_TOKEN)"
        return f"{self.agent or self.role.value} (token {self.token_id})"


BOOTSTRAP = Principal(None, Role.ADMIN)


class Own(enum.Enum):
    """What an agent's token must own for a route to serve it (supervisors
    and admins act on any agent)."""

    ENDPOINT = "endpoint"  # the path's {endpoint} is the token's agent
    CALL = "call"  # the path's {attempt} is a call the agent has or took
    ACCOUNT = "account"  # the path's {reference} is a debtor the agent took a call of
    FILTERED = "filtered"  # the handler answers with the agent's own rows only


@dataclass(frozen=True)
class Rule:
    """The roles a route allows, and what an agent token must own there."""

    roles: frozenset[Role]
    own: Own | None = None
    websocket: bool = False  # the only routes that take the token as ?token=
    public: bool = False  # no token needed: the API's description, which holds no data
    # A read audited as a change is: listening to a call's recording is a
    # privacy-relevant act (who listened to which call, when).
    audited: bool = False


_ADMIN = frozenset({Role.ADMIN})
_STAFF = frozenset({Role.ADMIN, Role.SUPERVISOR})
_EVERYONE = frozenset(Role)

# (method, path as the routes declare it) -> its rule. A route missing
# here is refused to every token (a test holds this table and the app's
# routes together).
ROUTES: dict[tuple[str, str], Rule] = {
    ("GET", "/openapi.json"): Rule(_EVERYONE, public=True),
    ("GET", "/docs"): Rule(_EVERYONE, public=True),
    ("GET", "/agents"): Rule(_EVERYONE, Own.FILTERED),
    ("GET", "/agents/{endpoint}"): Rule(_EVERYONE, Own.ENDPOINT),
    ("PUT", "/agents/{endpoint}/skills/{skill}"): Rule(_ADMIN),
    ("DELETE", "/agents/{endpoint}/skills/{skill}"): Rule(_ADMIN),
    ("PUT", "/agents/{endpoint}/asterisk"): Rule(_ADMIN),
    ("POST", "/agents/{endpoint}/{action}"): Rule(_EVERYONE, Own.ENDPOINT),
    ("GET", "/agents/{endpoint}/events"): Rule(_EVERYONE, Own.ENDPOINT, websocket=True),
    ("POST", "/attempts/{attempt}/disposition"): Rule(_EVERYONE, Own.CALL),
    ("POST", "/attempts/{attempt}/disposition/correction"): Rule(_STAFF),
    ("POST", "/attempts/{attempt}/recording/{action}"): Rule(_EVERYONE, Own.CALL),
    # Not an agent's, even of its own calls: it heard the call, and a
    # recording is evidence a supervisor reviews (docs/api.md#recordings).
    ("GET", "/attempts/{attempt}/recording"): Rule(_STAFF, audited=True),
    ("GET", "/dispositions"): Rule(_EVERYONE, Own.FILTERED),
    ("POST", "/attempts/{attempt}/payment"): Rule(_EVERYONE, Own.CALL),
    ("POST", "/attempts/{attempt}/transfer"): Rule(_EVERYONE, Own.CALL),
    ("POST", "/attempts/{attempt}/transfer/complete"): Rule(_EVERYONE, Own.CALL),
    ("POST", "/attempts/{attempt}/link"): Rule(_EVERYONE, Own.CALL),
    # Listening in on an agent's call is a supervisor's (audited as a change).
    ("POST", "/attempts/{attempt}/monitor"): Rule(_STAFF),
    ("DELETE", "/attempts/{attempt}/monitor/{supervisor}"): Rule(_STAFF),
    ("GET", "/campaigns"): Rule(_STAFF),
    ("POST", "/campaigns"): Rule(_STAFF),
    ("GET", "/campaigns/{campaign}"): Rule(_STAFF),
    ("GET", "/campaigns/{campaign}/events"): Rule(_STAFF),
    ("POST", "/campaigns/{campaign}/{action}"): Rule(_STAFF),
    ("PUT", "/campaigns/{campaign}/dial-mode"): Rule(_STAFF),
    ("PUT", "/campaigns/{campaign}/abandon-target"): Rule(_STAFF),
    ("GET", "/campaigns/{campaign}/templates"): Rule(_STAFF),
    ("GET", "/campaigns/{campaign}/templates/{segment}/{trigger}/{channel}/{language}"):
        Rule(_STAFF),
    ("POST", "/campaigns/{campaign}/templates/{segment}/{trigger}/{channel}/{language}"):
        Rule(_STAFF),
    ("POST", "/accounts/{reference}/messages/preview"): Rule(_STAFF),
    ("GET", "/accounts/{reference}/messages"): Rule(_EVERYONE, Own.ACCOUNT),
    ("GET", "/accounts"): Rule(_STAFF),
    ("GET", "/accounts/{reference}"): Rule(_EVERYONE, Own.ACCOUNT),
    ("POST", "/imports"): Rule(_STAFF),
    ("GET", "/imports/{batch}"): Rule(_STAFF),
    ("GET", "/dnc"): Rule(_STAFF),
    ("POST", "/dnc"): Rule(_STAFF),
    ("DELETE", "/dnc/{entry}"): Rule(_ADMIN),
    ("GET", "/reports/strategy"): Rule(_STAFF),
}

# The path parameter each kind of ownership reads.
OWNED_PARAMETER = {Own.ENDPOINT: "endpoint", Own.CALL: "attempt", Own.ACCOUNT: "reference"}

# Requests that change something: each one is audited.
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def audited(method: str, rule: Rule | None) -> bool:
    """Whether a request is kept in the audit: every change, and the reads
    a rule marks."""
    return method in STATE_CHANGING or (rule is not None and rule.audited)


def rule_for(method: str, path: str) -> Rule | None:
    """The rule of a route (HEAD is GET's), or None: no token may use it."""
    return ROUTES.get(("GET" if method == "HEAD" else method, path))


def refusal(principal: Principal, rule: Rule | None) -> str | None:
    """Why this token's role may not use the route (a 403), or None."""
    if rule is None:
        return "no role may use this route"
    if principal.role not in rule.roles:
        allowed = " or ".join(sorted(r.value for r in rule.roles))
        return f"a token of role {principal.role.value} may not use this route ({allowed} only)"
    return None


# What an issued secret starts with: recognisable in a leaked log or a
# secret scanner's rules, and never a valid bootstrap token by accident.
SECRET_PREFIX = "rcb_"


def new_secret() -> str:
    """A token's secret: shown once, kept only as its hash."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> bytes:
    """What the token store keeps of a secret (SHA-256: the secret holds 256
    random bits, so no slow hash is needed)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()


_LIFETIME = re.compile(r"([1-9][0-9]{0,4})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
LONGEST = timedelta(days=3650)


def parse_lifetime(text: str) -> timedelta:
    """`90m`, `12h`, `30d` -> how long a token lasts; ValueError naming
    the form it takes."""
    found = _LIFETIME.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"--expires-in {text!r}: a whole number and m, h or d (e.g. 12h, 30d)")
    lifetime = timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    if lifetime > LONGEST:
        raise ValueError(f"--expires-in {text!r}: at most 3650d")
    return lifetime
