"""The abandon rate over a regulator's window."""

from dialer.calls.outcome import AttemptResult
from dialer.compliance.abandon import LIVE_ANSWERS, AbandonTally


def test_the_rate_is_abandons_over_live_answers():
    assert AbandonTally("24 h", live=200, abandoned=5).rate == 0.025
    assert str(AbandonTally("24 h", 200, 5)) == "24 h: 2.5% (5 of 200 live answers)"
    assert AbandonTally("30 days", 0, 0).rate is None
    assert str(AbandonTally("30 days", 0, 0)) == "30 days: no live answers"


def test_machines_and_unanswered_calls_are_not_live_answers():
    assert AttemptResult.MACHINE not in LIVE_ANSWERS
    assert {AttemptResult.CONVERSATION, AttemptResult.ABANDONED,
            AttemptResult.HUNG_UP} == LIVE_ANSWERS
