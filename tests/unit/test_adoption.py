"""What a restarted dialer makes of a dead dialer's calls (recovery.py):
the channel's state fills in what the dead dialer did not write, so a call
that rang or was answered never passes for one the PBX did not place; and
which ended attempts the follow-up message outbox gets (attempts.py)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dialer.calls.events import CallHungUp
from dialer.calls.outcome import AttemptResult, Connection, attempt_result
from dialer.calls.state import CallState, apply
from dialer.outbound.attempts import reached_no_one
from dialer.outbound.dialers import OrphanAttempt
from dialer.outbound.recovery import adopted_record
from dialer.portfolio.model import Language, Segment

NOW = datetime(2026, 12, 3, 8, 30, 19, tzinfo=UTC)
ORPHAN = OrphanAttempt(uuid.uuid4(), "+12125541122", NOW - timedelta(seconds=12), None, None,
                       None, None, Language.ES, Segment.EARLY)


def ended_with_no_cause(channel_state: str | None, orphan: OrphanAttempt = ORPHAN):
    record = adopted_record(orphan, channel_state, NOW)
    ended = apply(record, CallHungUp(call_id=record.call_id, at=NOW + timedelta(seconds=1),
                                     cause=0, cause_text="Unknown"))
    return record, attempt_result(ended, Connection())


def test_an_answered_channel_the_dead_dialer_never_recorded_is_answered_at_the_latest_now():
    # Seen in the lab: answered after the dialer died; the hangup had no cause.
    record, result = ended_with_no_cause("Up")
    assert (record.state, record.answered_at) == (CallState.ANSWERED, NOW)
    assert result is not AttemptResult.NOT_PLACED


def test_a_ringing_channel_rang():
    record, result = ended_with_no_cause("Ringing")
    assert (record.state, record.ringing_at) == (CallState.RINGING, NOW)
    assert result is AttemptResult.FAILED


def test_what_the_dead_dialer_recorded_stands():
    answered = NOW - timedelta(seconds=5)
    record = adopted_record(replace(ORPHAN, answered_at=answered), "Up", NOW)
    assert (record.state, record.answered_at) == (CallState.ANSWERED, answered)


@pytest.mark.parametrize("channel_state", [None, "Down", "Dialing"])
def test_a_channel_that_never_rang_may_still_be_one_the_pbx_did_not_place(channel_state):
    record, result = ended_with_no_cause(channel_state)
    assert record.state is CallState.ORIGINATING and record.ringing_at is None
    assert result is AttemptResult.NOT_PLACED


@pytest.mark.parametrize(("result", "keyed", "expected"), [
    (AttemptResult.HUNG_UP, False, True),
    (AttemptResult.MACHINE, False, True),
    (AttemptResult.ABANDONED, True, True),
    # A press-to-pay call hung up without a key is a silent hang-up too...
    (AttemptResult.UNVERIFIED, False, True),
    # ...but one that keyed and did not prove the account may be a wrong party.
    (AttemptResult.UNVERIFIED, True, False),
    (AttemptResult.CONVERSATION, False, False),
    (AttemptResult.SELF_SERVED, True, False),
    (AttemptResult.NO_ANSWER, False, False),
])
def test_which_ended_attempts_reached_no_one(result, keyed, expected):
    assert reached_no_one(result, keyed) is expected
