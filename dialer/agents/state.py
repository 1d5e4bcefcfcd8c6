"""The agent as an explicit state machine. People move an agent between
logged out, ready and paused (and end a wrap-up early); the dialer moves it
through reserved, on call and wrap-up, and pauses an agent whose phone did
not take a call, with that reason. A transition not in the table is
refused with a message that says why."""

from __future__ import annotations

from datetime import datetime
from enum import Enum


class AgentState(Enum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    RESERVED = "reserved"  # chosen for an answered call, its leg being connected
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"  # after a call, ready again by itself when the timer ends
    PAUSED = "paused"  # with a reason


class AgentAction(Enum):
    LOG_IN = "log_in"
    LOG_OUT = "log_out"
    PAUSE = "pause"
    READY = "ready"  # back from a pause, or the end of a wrap-up
    RESERVE = "reserve"  # the dialer's
    CONNECT = "connect"  # the dialer's
    RELEASE = "release"  # the dialer's: a reservation that did not connect
    MISS = "miss"  # the dialer's: the agent's phone did not take the call
    HANG_UP = "hang_up"  # the dialer's: the call ended


# What people call the actions that are theirs (CLI and API words).
PERSON_ACTIONS = {"login": AgentAction.LOG_IN, "logout": AgentAction.LOG_OUT,
                  "ready": AgentAction.READY, "pause": AgentAction.PAUSE}

PAUSE_REASONS = ("break", "lunch", "training", "meeting", "coaching", "technical")
# Why the dialer paused an agent (what contact centres call RONA): the
# phone rang and nobody answered in time, or it could not be reached at all
# (not registered, a wrong codec, gone). The agent readies again by hand.
MISSED_CALL = "missed_call"
UNREACHABLE = "unreachable"
MISS_REASONS = (MISSED_CALL, UNREACHABLE)
# Why an agent's session (the line held open for the shift) ended: the
# agent's phone hung up (or vanished), or a person logged the agent out.
SESSION_HUNG_UP = "hung_up"
SESSION_LOGGED_OUT = "logged_out"
SESSION_END_REASONS = (SESSION_HUNG_UP, SESSION_LOGGED_OUT)

S, A = AgentState, AgentAction
TRANSITIONS: dict[tuple[AgentState, AgentAction], AgentState] = {
    (S.LOGGED_OUT, A.LOG_IN): S.READY,
    # Logging in again changes nothing: the agent is logged in already.
    (S.READY, A.LOG_IN): S.READY,
    (S.PAUSED, A.LOG_IN): S.PAUSED,
    (S.WRAP_UP, A.LOG_IN): S.WRAP_UP,
    (S.RESERVED, A.LOG_IN): S.RESERVED,
    (S.ON_CALL, A.LOG_IN): S.ON_CALL,
    # A person can always log an agent out (a supervisor freeing an agent
    # a lost call left on_call, say); a call going on goes on without it.
    (S.LOGGED_OUT, A.LOG_OUT): S.LOGGED_OUT,
    (S.READY, A.LOG_OUT): S.LOGGED_OUT,
    (S.PAUSED, A.LOG_OUT): S.LOGGED_OUT,
    (S.WRAP_UP, A.LOG_OUT): S.LOGGED_OUT,
    (S.RESERVED, A.LOG_OUT): S.LOGGED_OUT,
    (S.ON_CALL, A.LOG_OUT): S.LOGGED_OUT,
    (S.READY, A.PAUSE): S.PAUSED,
    (S.WRAP_UP, A.PAUSE): S.PAUSED,
    (S.PAUSED, A.PAUSE): S.PAUSED,  # a new reason
    (S.PAUSED, A.READY): S.READY,
    (S.WRAP_UP, A.READY): S.READY,
    (S.READY, A.READY): S.READY,
    (S.READY, A.RESERVE): S.RESERVED,
    (S.WRAP_UP, A.RESERVE): S.RESERVED,  # only once the wrap-up timer ran out
    (S.RESERVED, A.CONNECT): S.ON_CALL,
    (S.RESERVED, A.RELEASE): S.READY,
    (S.RESERVED, A.MISS): S.PAUSED,
    (S.RESERVED, A.HANG_UP): S.WRAP_UP,
    (S.ON_CALL, A.HANG_UP): S.WRAP_UP,
}
del S, A


class AgentTransitionError(ValueError):
    """The agent cannot do that now."""


class MissingPauseReason(AgentTransitionError):
    """A pause without one of PAUSE_REASONS."""


def apply(state: AgentState, action: AgentAction, reason: str = "") -> AgentState:
    """The state after action; AgentTransitionError when it is not allowed
    (a pause needs one of PAUSE_REASONS, a miss one of MISS_REASONS)."""
    if action is AgentAction.PAUSE and reason not in PAUSE_REASONS:
        raise MissingPauseReason(
            f"a pause needs a reason: one of {', '.join(PAUSE_REASONS)}"
            + (f" (not {reason!r})" if reason else ""))
    if action is AgentAction.MISS and reason not in MISS_REASONS:
        raise AgentTransitionError(f"a missed call is {' or '.join(MISS_REASONS)}, "
                                   f"not {reason!r}")
    after = TRANSITIONS.get((state, action))
    if after is None:
        raise AgentTransitionError(f"an agent who is {state.value} cannot {action.value}")
    return after


def settled(state: AgentState, since: datetime, wrap_up_until: datetime | None,
            now: datetime) -> tuple[AgentState, datetime]:
    """The agent's state and since when, as it is at now: a wrap-up whose
    timer has run out (or that has none) is ready, since the timer ran out,
    whoever reads it. (The reservation query in dialer.agents.store applies
    the same rule in SQL.)"""
    if state is AgentState.WRAP_UP and (wrap_up_until is None or wrap_up_until <= now):
        return AgentState.READY, wrap_up_until or since
    return state, since
