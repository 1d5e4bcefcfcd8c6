"""Leads through the compliance gate, in the caller's transaction: the
hopper's claim (batches by segment), each lead held at once, its fresh
facts read and the gate asked, refusals set aside with their rule. The
dialer's tick claims this way, and the hopper benchmark times exactly
this."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from dialer.compliance import gate
from dialer.outbound import leads
from dialer.portfolio.model import Campaign, Segment


@dataclass(frozen=True)
class Claim:
    """What one claim brought: leads the gate allows, and the refusals."""

    allowed: list[leads.LeadContext]
    refused: list[gate.Refused]


def gate_rules(campaign: Campaign, segment: Segment) -> gate.GateRules:
    """The campaign's side of the gate's rules for a segment."""
    strategy = campaign.strategy(segment)
    return gate.GateRules(window_profile=campaign.window_profile,
                          max_attempts=strategy.max_attempts, retry=strategy.retry,
                          agent_guaranteed=not strategy.dial_mode.may_overdial)


async def screen(connection: asyncpg.Connection, campaign: Campaign, lead: leads.LeadContext,
                 stage: str, now: datetime) -> gate.Decision:
    """The gate's decision on a lead at a stage ("claim", "dial"); a refused
    lead is set aside (deferred or retired) with its rule."""
    decision = gate.decide(lead.facts, gate_rules(campaign, lead.segment), now)
    if isinstance(decision, gate.Refused):
        await leads.set_aside(connection, campaign.id, lead.account_id, stage,
                              decision.rule.value, decision.detail, decision.until, now)
    return decision


async def claim(connection: asyncpg.Connection, campaign: Campaign, dialer_id: uuid.UUID,
                batches: Sequence[tuple[int, Sequence[Segment]]], zones: Sequence[str],
                contact_rates: Sequence[float], now: datetime,
                language: str | None = None) -> Claim:
    """Claim up to count leads from the segments of each batch, in order,
    in the open zones (best first at their contact rates), of debtors who
    speak language (None: any); hold them for this dialer, and keep those
    the gate allows now."""
    claimed: list[leads.ClaimedLead] = []
    for count, segments in batches:
        batch = await leads.claim(connection, campaign.id, zones, contact_rates, segments,
                                  count, now, language)
        # Held at once, so the next batch passes them by.
        await leads.hold_leads(connection, campaign.id, [lead.account_id for lead in batch],
                               dialer_id)
        claimed += batch
    allowed, refused = [], []
    for lead in await leads.lead_contexts(connection, campaign.id,
                                          [c.account_id for c in claimed], now):
        decision = await screen(connection, campaign, lead, "claim", now)
        if isinstance(decision, gate.Allowed):
            allowed.append(lead)
        else:
            refused.append(decision)
    return Claim(allowed, refused)
