"""Pools of agents by language: a campaign whose debtors speak different
languages is paced pool by pool, so no call is launched for a debtor whose
language no agent counted for it speaks.

Each pool is a language of the campaign's debtors. Its snapshot holds the
agents counted for it and its own calls ringing or waiting; one policy
decides for every pool (the same closed loop: one price on an abandon, the
campaign's, which is what spends the regulator's budget where it buys the
most connects). An agent who speaks one of the languages belongs to that
pool; an agent who speaks several is counted in one only (counted in each,
their one free moment would be promised twice and calls would be
abandoned): in the pool with the fewest agents for its share of the
debtors. Routing still lets them take any call they can, so a shared agent
is slack for the other pools."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pacing.model import AgentView, Snapshot


@dataclass(frozen=True, slots=True)
class LanguageShare:
    """A language and its share of the campaign's debtors (0 to 1)."""

    language: str
    share: float


@dataclass(frozen=True, slots=True)
class SkilledAgent:
    """A logged-in agent and the languages they take calls in."""

    view: AgentView
    languages: frozenset[str]


@dataclass(frozen=True, slots=True)
class PoolCall:
    """A call of a pool: its dial time (ringing) or answer time (waiting)."""

    at: float
    language: str


@dataclass(frozen=True, slots=True)
class Pool:
    """One language's agents and calls, as its policy sees them."""

    language: str
    snapshot: Snapshot


def home_pools(agents: Sequence[frozenset[str]], shares: Sequence[LanguageShare]) -> list[
        str | None]:
    """The pool each agent is counted in (None: they speak none of the
    debtors' languages). One-language agents first; then each agent who
    speaks several, in order, joins the pool with the fewest agents per
    share of the debtors (a language with no debtors gets none of them)."""
    spoken_here = [[s for s in shares if s.language in spoken] for spoken in agents]
    counts = {s.language: 0 for s in shares}
    homes: list[str | None] = [None] * len(agents)
    for index, mine in enumerate(spoken_here):
        if len(mine) == 1:
            homes[index] = mine[0].language
            counts[mine[0].language] += 1
    for index, mine in enumerate(spoken_here):
        wanted = [s for s in mine if s.share > 0]
        if len(mine) < 2 or not wanted:
            continue
        home = min(wanted, key=lambda s: counts[s.language] / s.share).language
        homes[index] = home
        counts[home] += 1
    return homes


def split(now: float, agents: Sequence[SkilledAgent], dialing: Sequence[PoolCall],
          waiting: Sequence[PoolCall], shares: Sequence[LanguageShare]) -> list[Pool]:
    """One Pool per language of the debtors, in the order of shares."""
    homes = home_pools([a.languages for a in agents], shares)
    return [Pool(s.language, Snapshot(
        now=now,
        agents=tuple(a.view for a, home in zip(agents, homes, strict=True)
                     if home == s.language),
        dialing=tuple(c.at for c in dialing if c.language == s.language),
        waiting=tuple(c.at for c in waiting if c.language == s.language)))
        for s in shares]
