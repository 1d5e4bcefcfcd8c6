"""The one vocabulary of outcomes: what a call came to (CallOutcome, from
what Asterisk reported: the calls table), what an attempt came to
(AttemptResult: the compliance gate, the retry rules, Reg F, the attempts
table), and how the one gives the other. Pacing's own words are mapped
from AttemptResult in dialer.outbound.results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

# Q.850 hangup causes as Asterisk reports them.
CAUSE_USER_BUSY = 17
CAUSE_NO_USER_RESPONSE = 18
CAUSE_NO_ANSWER = 19

BUSY_CAUSES = frozenset({CAUSE_USER_BUSY})
NO_ANSWER_CAUSES = frozenset({CAUSE_NO_USER_RESPONSE, CAUSE_NO_ANSWER})

# Asterisk's outbound "reason" codes (AMI OriginateResponse).
REASON_BUSY = 5
REASON_RING_TIMEOUT = 3


class FinishedCall(Protocol):
    """What the outcome of an attempt reads of its call (a calls.state
    CallRecord)."""

    outcome: CallOutcome | None
    answered_at: datetime | None
    ringing_at: datetime | None
    originate_reason: int | None
    hangup_cause: int | None
    lost: bool


class CallOutcome(Enum):
    """What became of an outbound call."""

    ANSWERED = "answered"  # answered, and Recobro ended it when done
    CALLEE_HUNG_UP = "callee_hung_up"  # answered, then the callee hung up first
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"  # congestion, unallocated number, network failure, lost


def classify(*, answered: bool, hung_up_by_app: bool, cause: int | None,
             originate_reason: int | None, lost: bool) -> CallOutcome:
    """Classify a finished call.

    An answered call counts as hung up by the callee when the channel ended
    before Recobro asked to end it. A call lost while Recobro was not
    connected to Asterisk is a failure: nobody knows how it ended."""
    if lost:
        return CallOutcome.FAILED
    if answered:
        return CallOutcome.ANSWERED if hung_up_by_app else CallOutcome.CALLEE_HUNG_UP
    if cause in BUSY_CAUSES or originate_reason == REASON_BUSY:
        return CallOutcome.BUSY
    if cause in NO_ANSWER_CAUSES or originate_reason == REASON_RING_TIMEOUT:
        return CallOutcome.NO_ANSWER
    return CallOutcome.FAILED


class AttemptResult(Enum):
    """What an attempt came to, for the retry rules and Reg F."""

    CONVERSATION = "conversation"  # an agent was connected
    ABANDONED = "abandoned"  # live answer, no agent within 2 s
    MACHINE = "machine"
    HUNG_UP = "hung_up"  # answered, hung up before an agent could be connected
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    LOST = "lost"  # the dialer lost track of it (crash): nobody knows
    # The PBX never placed the call (no channel, no RTP port, trunk down):
    # no call was made, so it counts as no attempt against the debtor.
    NOT_PLACED = "not_placed"
    # A self-service campaign's answered call (no agent was promised, so
    # never abandoned): the debtor proved to be the right party and the IVR
    # served them (balance, promise, payment) ...
    SELF_SERVED = "self_served"
    # ... or the one who answered did not prove it (a wrong party, a wrong
    # account number, silence): nothing about the debt was said.
    UNVERIFIED = "unverified"


# The right party was reached: Reg F's 7 days after a conversation count
# from these, and so do the contact rates pacing ranks hours by.
RIGHT_PARTY_CONTACTS = frozenset({AttemptResult.CONVERSATION, AttemptResult.SELF_SERVED})


_UNANSWERED = {
    CallOutcome.BUSY: AttemptResult.BUSY,
    CallOutcome.NO_ANSWER: AttemptResult.NO_ANSWER,
    CallOutcome.FAILED: AttemptResult.FAILED,
}


@dataclass(frozen=True)
class Connection:
    """What the dialer did with an answered call."""

    agent: str | None = None
    connected_at: datetime | None = None
    abandoned: bool = False  # no agent in time: Recobro ended the call
    machine: bool = False  # AMD heard an answering machine
    self_service: bool = False  # a self-service campaign's IVR took the call
    verified: bool = False  # ... and the debtor proved to be the right party


def not_placed(call: FinishedCall) -> bool:
    """Whether the PBX never placed the call: the originate failed before a
    channel rang or answered, with no cause from the far end (Asterisk out
    of channels or RTP ports, the trunk missing or down)."""
    return (call.outcome is CallOutcome.FAILED and call.answered_at is None
            and call.ringing_at is None and call.originate_reason in (None, 0)
            and call.hangup_cause in (None, 0) and not call.lost)


def attempt_result(call: FinishedCall, connection: Connection) -> AttemptResult:
    """The attempt's result from the finished call and its connection. A
    call bridged to an agent was a conversation even when its end was lost
    (the dialer died, PostgreSQL went away)."""
    if call.lost:
        return AttemptResult.CONVERSATION if connection.connected_at else AttemptResult.LOST
    if call.answered_at is None:
        if not_placed(call):
            return AttemptResult.NOT_PLACED
        return _UNANSWERED.get(call.outcome, AttemptResult.FAILED)  # type: ignore[arg-type]
    if connection.machine:
        return AttemptResult.MACHINE
    if connection.connected_at is not None:
        return AttemptResult.CONVERSATION
    if connection.self_service:
        return AttemptResult.SELF_SERVED if connection.verified else AttemptResult.UNVERIFIED
    return AttemptResult.ABANDONED if connection.abandoned else AttemptResult.HUNG_UP
