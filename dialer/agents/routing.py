"""Skill routing: which free agent takes an answered call. Pure.

Agents carry skills with levels 1-5: `language:es`, `language:en`,
`segment:early|mid|late`, `tier:low|mid|high` (balance tier) and
`negotiation`. A call needs the debtor's language and, for a high balance,
the high tier; it prefers the segment's skill. The best match (the most
skill levels on what the call needs and prefers) takes it, then the one who
speaks fewest languages (an agent who speaks both is kept for the calls
only they can take: pacing counts them in one language's pool only), then
the longest idle. High-risk debtors go to the most skilled negotiator
first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

HIGH_RISK = 0.7  # risk score from which the most qualified agent is wanted
TIERS = ((Decimal(5000), "high"), (Decimal(1000), "mid"), (Decimal(0), "low"))
NEGOTIATION = "negotiation"
LANGUAGE_SKILL = "language:"  # + the language: the skill a call in it requires


@dataclass(frozen=True)
class CallNeeds:
    """What an answered call asks of its agent."""

    required: Mapping[str, int]  # skill -> lowest level
    preferred: tuple[str, ...] = ()
    most_qualified: bool = False


@dataclass(frozen=True)
class Candidate:
    endpoint: str
    idle_since: datetime
    skills: Mapping[str, int] = field(default_factory=dict)


def balance_tier(balance: Decimal) -> str:
    """low, mid or high."""
    return next(name for floor, name in TIERS if balance >= floor)


def needs_of(language: str, segment: str, balance: Decimal, risk_score: float) -> CallNeeds:
    """What a call to this debtor needs."""
    required = dict(language_only(language).required)
    tier = balance_tier(balance)
    if tier == "high":
        required["tier:high"] = 1
    return CallNeeds(required=required, preferred=(f"segment:{segment}", f"tier:{tier}"),
                     most_qualified=risk_score >= HIGH_RISK)


def language_only(language: str) -> CallNeeds:
    """What a call needs when only its language is known (a caller not
    identified, a call adopted from a dead dialer)."""
    return CallNeeds(required={f"{LANGUAGE_SKILL}{language}": 1})


def choose(candidates: Sequence[Candidate], needs: CallNeeds) -> Candidate | None:
    """The agent who takes the call, or None when nobody free may."""
    eligible = [c for c in candidates
                if all(c.skills.get(skill, 0) >= level for skill, level in needs.required.items())]
    if not eligible:
        return None

    def rank(candidate: Candidate) -> tuple:
        match = sum(candidate.skills.get(s, 0) for s in (*needs.required, *needs.preferred))
        negotiation = candidate.skills.get(NEGOTIATION, 0) if needs.most_qualified else 0
        languages = sum(1 for skill in candidate.skills if skill.startswith(LANGUAGE_SKILL))
        return (-negotiation, -match, languages, candidate.idle_since)

    return min(eligible, key=rank)
