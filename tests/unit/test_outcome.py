import pytest

from dialer.calls.outcome import CallOutcome, classify


@pytest.mark.parametrize("answered, by_app, cause, reason, lost, expected", [
    (True, True, 16, None, False, CallOutcome.ANSWERED),
    (True, False, 16, None, False, CallOutcome.CALLEE_HUNG_UP),
    (True, False, 0, None, False, CallOutcome.CALLEE_HUNG_UP),
    (False, False, 17, None, False, CallOutcome.BUSY),
    (False, False, None, 5, False, CallOutcome.BUSY),
    (False, False, 19, None, False, CallOutcome.NO_ANSWER),
    (False, False, 18, None, False, CallOutcome.NO_ANSWER),
    (False, False, None, 3, False, CallOutcome.NO_ANSWER),
    (False, False, 34, None, False, CallOutcome.FAILED),
    (False, False, 1, None, False, CallOutcome.FAILED),
    (False, False, None, 0, False, CallOutcome.FAILED),
    (True, True, None, None, True, CallOutcome.FAILED),
])
def test_classify(answered, by_app, cause, reason, lost, expected):
    assert classify(answered=answered, hung_up_by_app=by_app, cause=cause,
                    originate_reason=reason, lost=lost) is expected
