"""One tick of a campaign, the pure part: the pacing snapshot of each
language's pool built from agent and call states, and how many leads to
claim from which segments."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from dialer.agents.state import AgentState as AgentStatus
from dialer.agents.state import settled
from dialer.outbound.lifecycles import AttemptStage, LeadState, attempt_stage
from dialer.portfolio.model import Campaign, Segment
from pacing.model import AgentState, AgentView, Snapshot
from pacing.pools import LanguageShare, Pool, PoolCall, SkilledAgent, split


@dataclass(frozen=True)
class AgentRow:
    """An agent's row as the tick reads it."""

    status: AgentStatus
    since: datetime
    wrap_up_until: datetime | None
    endpoint: str = ""
    languages: frozenset[str] = frozenset()  # its language:xx skills


@dataclass(frozen=True)
class CallInFlight:
    """A lead being dialed by any dialer of the campaign."""

    dialed_at: datetime
    answered_at: datetime | None
    connected_at: datetime | None
    language: str = ""  # the debtor's

    @property
    def stage(self) -> AttemptStage:
        return attempt_stage(self.answered_at, self.connected_at, ended=False)


def _seconds(moment: datetime, epoch: datetime) -> float:
    return (moment - epoch).total_seconds()


def agent_view(agent: AgentRow, now: datetime, epoch: datetime) -> AgentView | None:
    """What pacing sees of an agent (None: not logged in). A wrap-up whose
    timer ran out is readiness, and a reserved agent is as good as talking."""
    status, since = settled(agent.status, agent.since, agent.wrap_up_until, now)
    match status:
        case AgentStatus.LOGGED_OUT:
            return None
        case AgentStatus.WRAP_UP:
            return AgentView(AgentState.WRAP_UP, _seconds(since, epoch))
        case AgentStatus.READY:
            return AgentView(AgentState.READY, _seconds(since, epoch))
        case AgentStatus.PAUSED:
            return AgentView(AgentState.PAUSED, _seconds(since, epoch))
    return AgentView(AgentState.TALKING, _seconds(since, epoch))


def build_pools(now: datetime, epoch: datetime, agents: list[AgentRow],
                calls: list[CallInFlight], shares: tuple[LanguageShare, ...]) -> list[Pool]:
    """The pacing snapshot of each language's pool (pacing.pools): the
    agents counted for it (one who speaks several languages in one pool
    only) and its debtors' calls ringing or waiting."""
    skilled = [SkilledAgent(view, agent.languages) for agent in agents
               if (view := agent_view(agent, now, epoch)) is not None]
    dialing = [PoolCall(_seconds(c.dialed_at, epoch), c.language) for c in calls
               if c.stage is AttemptStage.PLACED]
    waiting = [PoolCall(_seconds(c.answered_at, epoch), c.language) for c in calls
               if c.answered_at is not None and c.stage is AttemptStage.ANSWERED]
    return split(_seconds(now, epoch), skilled, dialing, waiting, shares)


@dataclass(frozen=True)
class ClaimPlan:
    """Leads to claim now: `guaranteed` from any segment of the campaign
    (a free agent is there for each), then `extra` only from segments whose
    mode may dial ahead of free agents."""

    guaranteed: int
    extra: int
    all_segments: tuple[Segment, ...]
    overdial_segments: tuple[Segment, ...]
    language: str | None = None  # only debtors who speak it (None: any)


def plan_claims(campaign: Campaign, decision: int, snapshot: Snapshot,
                language: str | None = None) -> ClaimPlan:
    """Split the policy's decision between segments by their dial modes: a
    preview or progressive segment never gets more calls than free agents.
    With a language, the snapshot is that language's pool, and its leads
    are claimed among debtors who speak it."""
    uncovered = max(0, snapshot.ready - len(snapshot.dialing) - len(snapshot.waiting))
    guaranteed = min(decision, uncovered)
    overdial = tuple(s for s in campaign.segments if campaign.strategy(s).dial_mode.may_overdial)
    extra = decision - guaranteed if overdial else 0
    return ClaimPlan(guaranteed, extra, campaign.segments, overdial, language)


def plan_lines(campaign: Campaign, in_flight: int) -> ClaimPlan:
    """The pacing of a self-service campaign, which has no agents to pace
    to: keep up to its max_lines calls in flight (ringing or in the IVR),
    from any of its segments. Nothing is dialed ahead of a line, so no
    answered debtor ever waits for one."""
    free = max(0, (campaign.max_lines or 0) - in_flight)
    return ClaimPlan(free, 0, campaign.segments, ())


@dataclass(frozen=True)
class LeadInHopper:
    """What the claim looks at in a lead (the leads table's row)."""

    account_id: int
    state: LeadState
    segment: Segment
    time_zone: str
    next_callable_at: datetime
    priority: int  # the segment strategy's
    value: float  # balance x chance to pay
    language: str  # the debtor's (the account's)


def claim_order(leads: Iterable[LeadInHopper], zones: Mapping[str, float],
                segments: Collection[Segment], limit: int, now: datetime,
                language: str | None = None) -> list[LeadInHopper]:
    """The claim's rule, which dialer.outbound.leads runs in SQL over the
    leads_hopper index: ready leads due by now, in an open zone (with its
    contact rate at this hour), a wanted segment and the pool's language
    (None: any); the best `limit` of each
    zone by priority then value, then the best `limit` of those by priority
    then value at the zone's contact rate."""
    due = [lead for lead in leads if lead.state is LeadState.READY
           and lead.next_callable_at <= now and lead.segment in segments
           and language in (None, lead.language)]
    shortlist: list[tuple[LeadInHopper, float]] = []
    for zone, contact_rate in zones.items():
        in_zone = sorted((lead for lead in due if lead.time_zone == zone),
                         key=lambda lead: (-lead.priority, -lead.value))
        shortlist += [(lead, contact_rate) for lead in in_zone[:limit]]
    shortlist.sort(key=lambda pair: (-pair[0].priority, -pair[0].value * pair[1]))
    return [lead for lead, _ in shortlist[:max(limit, 0)]]


@dataclass
class PbxHold:
    """New calls held while Asterisk refuses to place them (out of channels
    or RTP ports, the trunk down): 1 s after a refusal, doubling up to 30 s
    while refusals go on; a call placed ends it."""

    FIRST_S = 1.0
    LONGEST_S = 30.0
    until: float = 0.0
    delay_s: float = 0.0

    def refused(self, now: float) -> float | None:
        """A call was not placed: the new hold in seconds, or None while one
        already runs (the refusals of one burst count once)."""
        if now < self.until:
            return None
        self.delay_s = min(self.LONGEST_S, max(self.FIRST_S, self.delay_s * 2))
        self.until = now + self.delay_s
        return self.delay_s

    def placed(self) -> None:
        self.delay_s = 0.0

    def holding(self, now: float) -> bool:
        return now < self.until
