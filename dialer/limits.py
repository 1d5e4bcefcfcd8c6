"""The allowed range of every campaign setting (and an agent's skill
level), in one place: what `recobro campaign create` and `recobro agent
skills` check before PostgreSQL sees a value, and what their error messages
quote. Where the schema has a CHECK constraint
(`dialer/store/migrations/0002.campaigns.sql`) the range is the same
(tests/unit/test_campaign_limits.py holds them together); the upper
bounds the schema lacks keep values sane and inside PostgreSQL's integer."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from dialer.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """A closed range of numbers, with the unit its messages use."""

    low: float
    high: float
    unit: str = ""

    def __contains__(self, value: float) -> bool:
        # NaN is in no range: every comparison with it is false.
        return self.low <= value <= self.high

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"from {self.low:g} to {self.high:g}{unit}"


# How long a dialer waits out an unreachable PostgreSQL (RECOBRO_DB_RIDE_OUT):
# a restart or a failover (10-30 s for the usual managers) takes less.
RIDE_OUT_S = 60.0
RIDE_OUT = Range(1, 600, "seconds")
# How long a dialer waits for PostgreSQL to answer one query
# (RECOBRO_DB_QUERY_TIMEOUT) before it counts the server as unreachable: a
# network that drops packets closes no connection, and without a bound every
# call would wait on it in silence. Its writes take well under a second
# even when hundreds of calls answer at once.
QUERY_TIMEOUT_S = 5.0
QUERY_TIMEOUT = Range(0.5, 300, "seconds")
# How many call events wait in memory for PostgreSQL during an outage
# (RECOBRO_EVENT_BUFFER): a dialer stops originating meanwhile, so only
# its calls in flight add events, a few dozen each at most.
EVENT_BUFFER = 10_000
EVENT_BUFFER_RANGE = Range(100, 1_000_000, "events")
# How often AMI is pinged (RECOBRO_AMI_PING_S): a frozen Asterisk or a
# half-open TCP session is found within this and the Ping's answer time.
AMI_PING_S = 10.0
AMI_PING = Range(1, 300, "seconds")
# How long one request to the card gateway may take
# (RECOBRO_PAYMENT_GATEWAY_TIMEOUT_S) before it is retried with the same
# idempotency key: Stripe answers in about a second; a debtor is waiting.
PAYMENT_GATEWAY_TIMEOUT_S = 10.0
PAYMENT_GATEWAY_TIMEOUT = Range(0.1, 60, "seconds")
# How long one request to a message provider (Kannel, an HTTP SMS API, an
# SMTP server) may take before the try counts as failed and is retried
# (RECOBRO_MESSAGE_PROVIDER_TIMEOUT_S).
MESSAGE_PROVIDER_TIMEOUT_S = 10.0
MESSAGE_PROVIDER_TIMEOUT = Range(0.1, 120, "seconds")
# How long a payment link lasts (RECOBRO_PAYMENT_LINK_DAYS), and the
# shortest key it may be signed with (128 bits of a random key, written out).
PAYMENT_LINK_LIFETIME_DAYS = 7.0
PAYMENT_LINK_LIFETIME = Range(0.01, 90, "days")
PAYMENT_LINK_KEY_LENGTH = 32
RING_TIMEOUT_S = Range(5, 120, "seconds")  # CHECK (ring_timeout_s BETWEEN 5 AND 120)
WRAP_UP_S = Range(0, 3600, "seconds")  # CHECK (wrap_up_s >= 0); an hour at most
DIAL_RATIO = Range(1, 10, "calls per agent")  # CHECK (dial_ratio >= 1)
# An agentless (self-service) campaign's calls in flight at most (--lines;
# CHECK (max_lines BETWEEN 1 AND 2000), migration 0025), and what it keeps
# when not given.
LINES = Range(1, 2000, "calls at once")
DEFAULT_LINES = 10
# CHECK (0 < early_max_dpd < mid_max_dpd); a century of days at most.
DAYS_PAST_DUE = Range(1, 36500, "days")
NAME_LENGTH = 100  # a campaign's name and portfolio, in characters

# Strategies files (--strategies): per-segment integers.
PRIORITY = Range(-1000, 1000)
MAX_ATTEMPTS = Range(1, 100)  # CHECK (max_attempts > 0)
RETRY_S = Range(0, 365 * 24 * 3600, "seconds")  # a year at most
# What a segment offers a debtor who pays by keypad (0006.payment_terms.sql's
# CHECKs; payment_ivr.terms.PaymentOptions refuses the same).
SETTLEMENT_PERCENT = Range(1, 99, "percent of the balance")
INSTALMENTS = Range(2, 24, "monthly payments")
PROMISE_DAYS = Range(0, 180, "days")  # dates are keyed DDMM: no further

SKILL_LEVEL = Range(1, 5)  # CHECK (level BETWEEN 1 AND 5) on agent_skills
# What separates skills and levels in `recobro agent skills --skills
# language:es=5,negotiation=3`: no skill's name may hold one, so that every
# skill the API sets can be written there too.
SKILL_SEPARATORS = ",="

# The abandon target is above 0 and at most the regulators' cap
# (dialer.compliance.abandon.CAP); above the cap only when the operator says
# so (--allow-abandon-above-cap), and even then below this
# (CHECK (abandon_target > 0 AND abandon_target < 1)).
ABANDON_CEILING = 1.0


def check_text(what: str, value: str, *, required: bool) -> None:
    """A name PostgreSQL stores as text and people read: no control
    characters (a NUL cannot even be stored), not too long."""
    if required and not value.strip():
        raise ConfigError(f"{what} is empty")
    if len(value) > NAME_LENGTH:
        raise ConfigError(f"{what} is longer than {NAME_LENGTH} characters")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise ConfigError(f"{what} holds a control character")


def check_skill_name(what: str, skill: str) -> None:
    """An agent's skill's name (language:es, negotiation): no control
    characters, none of the CLI's separators, not too long; ConfigError
    names what (the option or the field) is wrong."""
    check_text(f"{what}: the skill {skill!r}", skill, required=True)
    if any(c in SKILL_SEPARATORS for c in skill) or skill != skill.strip():
        raise ConfigError(f"{what}: the skill {skill!r} holds a comma, an equals sign or "
                          "spaces at an end (e.g. language:es, negotiation)")


def check_skill_level(what: str, skill: str, level: int) -> None:
    """A skill's level is in SKILL_LEVEL; ConfigError names what is wrong."""
    if level not in SKILL_LEVEL:
        raise ConfigError(f"{what}: {skill}={level}: a level is a whole number {SKILL_LEVEL}")
