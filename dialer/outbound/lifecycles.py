"""The lifecycles of an outbound campaign, as explicit state machines like
calls' and agents': the campaign (stopped, running, paused), each lead in
it (ready, dialing, done) and each attempt (placed, answered, connected,
ended). The hopper's SQL writes only states these tables allow."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TypeVar

from dialer.compliance.gate import Rule, attempts_exhausted


class TransitionError(ValueError):
    """The campaign, lead or attempt cannot do that now."""


_S = TypeVar("_S", bound=Enum)
_A = TypeVar("_A", bound=Enum)


def _move(table: dict[tuple[_S, _A], _S], what: str, state: _S, action: _A,
          hint: str = "") -> _S:
    after = table.get((state, action))
    if after is None:
        raise TransitionError(f"a {what} that is {state.value} cannot {action.value}{hint}")
    return after


class CampaignState(Enum):
    STOPPED = "stopped"
    RUNNING = "running"
    PAUSED = "paused"  # dialers keep their calls, claim no new lead


class CampaignAction(Enum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"


_C, _CA = CampaignState, CampaignAction
CAMPAIGN_TRANSITIONS: dict[tuple[CampaignState, CampaignAction], CampaignState] = {
    (_C.STOPPED, _CA.START): _C.RUNNING,
    (_C.RUNNING, _CA.START): _C.RUNNING,  # started twice: nothing changes
    (_C.PAUSED, _CA.START): _C.RUNNING,
    (_C.RUNNING, _CA.PAUSE): _C.PAUSED,
    (_C.PAUSED, _CA.PAUSE): _C.PAUSED,
    (_C.PAUSED, _CA.RESUME): _C.RUNNING,
    (_C.RUNNING, _CA.RESUME): _C.RUNNING,
    # Stopping is always possible: an operator must be able to halt dialing.
    (_C.STOPPED, _CA.STOP): _C.STOPPED,
    (_C.RUNNING, _CA.STOP): _C.STOPPED,
    (_C.PAUSED, _CA.STOP): _C.STOPPED,
}


def campaign_after(state: CampaignState, action: CampaignAction) -> CampaignState:
    """The campaign's state after action; TransitionError naming what to do
    instead when it is not allowed (a stopped campaign is started, not paused
    or resumed)."""
    return _move(CAMPAIGN_TRANSITIONS, "campaign", state, action, "; start it first")


def check_settings_change(state: CampaignState, setting: str) -> None:
    """A campaign's pacing settings (dial mode, abandon target) change only
    while it is stopped: a dialer reads them when it starts, so a change
    to a running or paused campaign would be a figure no dialer obeys.
    TransitionError naming the fix otherwise."""
    if state is not CampaignState.STOPPED:
        raise TransitionError(f"a campaign that is {state.value} keeps its {setting}: stop it "
                              f"first, set the {setting}, then start it (its dialers read "
                              "the settings when they start)")


class LeadState(Enum):
    READY = "ready"  # waiting for its next_callable_at
    DIALING = "dialing"  # claimed by a dialer, an attempt about to be or in flight
    DONE = "done"  # never dialed again in this campaign, with a reason


class LeadAction(Enum):
    CLAIM = "claim"  # a dialer's hopper takes it
    DEFER = "defer"  # the gate refused it until a time
    RETIRE = "retire"  # the gate refused it for good, or its attempts ran out
    RETRY = "retry"  # its attempt ended and attempts are left
    RELEASE = "release"  # its dialer died before dialing it


_L, _LA = LeadState, LeadAction
LEAD_TRANSITIONS: dict[tuple[LeadState, LeadAction], LeadState] = {
    (_L.READY, _LA.CLAIM): _L.DIALING,
    (_L.DIALING, _LA.DEFER): _L.READY,
    (_L.DIALING, _LA.RETIRE): _L.DONE,
    (_L.DIALING, _LA.RETRY): _L.READY,
    (_L.DIALING, _LA.RELEASE): _L.READY,
}


def lead_after(state: LeadState, action: LeadAction) -> LeadState:
    """The lead's state after action; TransitionError when not allowed."""
    return _move(LEAD_TRANSITIONS, "lead", state, action)


def after_refusal(until: datetime | None) -> LeadAction:
    """A lead the gate refused: deferred until a time, or retired for good."""
    return LeadAction.RETIRE if until is None else LeadAction.DEFER


def after_attempt(attempts_made: int, max_attempts: int) -> tuple[LeadAction, str]:
    """What a lead's ended attempt does to it, and the reason it is done
    ('' when it is not): the gate's max-attempts rule, applied at once so
    the hopper never claims a lead only to refuse it."""
    if attempts_exhausted(attempts_made, max_attempts):
        return LeadAction.RETIRE, Rule.MAX_ATTEMPTS.value
    return LeadAction.RETRY, ""


class AttemptStage(Enum):
    """Where an attempt is: placed, then answered, then connected, then
    ended, skipping what did not happen. The attempts table keeps the
    moments (answered_at, connected_at, result), so the stage is read from
    them; its writers only move forward (an ended attempt keeps its result)."""

    PLACED = "placed"  # originated, ringing
    ANSWERED = "answered"  # a person or machine picked up; waiting for an agent
    CONNECTED = "connected"  # bridged to an agent
    ENDED = "ended"  # has its one final result


del _C, _CA, _L, _LA


def attempt_stage(answered_at: datetime | None, connected_at: datetime | None,
                  ended: bool) -> AttemptStage:
    """The stage an attempt's recorded moments put it in."""
    if ended:
        return AttemptStage.ENDED
    if connected_at is not None:
        return AttemptStage.CONNECTED
    if answered_at is not None:
        return AttemptStage.ANSWERED
    return AttemptStage.PLACED

