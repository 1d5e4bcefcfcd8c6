"""How a finished call is classified, from what Asterisk reported."""

from __future__ import annotations

from enum import Enum

# Q.850 hangup causes as Asterisk reports them.
CAUSE_USER_BUSY = 17
CAUSE_NO_USER_RESPONSE = 18
CAUSE_NO_ANSWER = 19

BUSY_CAUSES = frozenset({CAUSE_USER_BUSY})
NO_ANSWER_CAUSES = frozenset({CAUSE_NO_USER_RESPONSE, CAUSE_NO_ANSWER})

# Asterisk's outbound "reason" codes (AMI OriginateResponse).
REASON_BUSY = 5
REASON_RING_TIMEOUT = 3


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
