"""The rules of a plan's later payments (payment_ivr.instalments), pure:
the instalment's transition table, the retry schedule, what a plan and
its account become, the debtor's date, what the scheduler does, and the
command's arguments."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from dialer import cli
from payment_ivr.instalments import (
    INSTALMENT_TRANSITIONS,
    RETRY_AFTER,
    TRIES,
    Cancel,
    Charge,
    InstalmentAction,
    InstalmentState,
    PlanState,
    TransitionError,
    Wait,
    account_after_plan,
    after_decline,
    charge_day,
    debtor_zone,
    instalment_after,
    instalment_key,
    local_date,
    next_step,
    plan_state,
)
from payment_ivr.terms import Money

S, A = InstalmentState, InstalmentAction
DAY = date(2027, 1, 2)


def test_the_happy_path_and_the_decline_path_follow_the_table():
    assert instalment_after(instalment_after(S.DUE, A.CHARGE), A.APPROVE) is S.PAID
    failed = instalment_after(instalment_after(S.DUE, A.CHARGE), A.DECLINE)
    assert failed is S.FAILED
    assert instalment_after(instalment_after(failed, A.CHARGE), A.GIVE_UP) is S.MISSED
    assert instalment_after(S.IN_FLIGHT, A.UNSENT) is S.DUE  # not a try


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("action", list(A))
def test_every_pair_outside_the_table_is_refused(state, action):
    if (state, action) in INSTALMENT_TRANSITIONS:
        assert instalment_after(state, action) is INSTALMENT_TRANSITIONS[(state, action)]
    else:
        with pytest.raises(TransitionError, match=f"{state.value} cannot {action.value}"):
            instalment_after(state, action)


def test_finished_instalments_never_move_and_one_in_flight_is_never_cancelled():
    for state in (S.PAID, S.MISSED, S.CANCELLED):
        assert not [a for (s, a) in INSTALMENT_TRANSITIONS if s is state]
    with pytest.raises(TransitionError):
        instalment_after(S.IN_FLIGHT, A.CANCEL)  # the money may be taken: settled first
    with pytest.raises(TransitionError):
        instalment_after(S.PAID, A.CHARGE)  # a paid instalment is never charged again


def test_declines_are_tried_again_three_days_apart_then_given_up():
    assert (TRIES, RETRY_AFTER.days) == (3, 3)
    assert after_decline(1, DAY) == (A.DECLINE, date(2027, 1, 5))
    assert after_decline(2, date(2027, 1, 5)) == (A.DECLINE, date(2027, 1, 8))
    assert after_decline(3, date(2027, 1, 8)) == (A.GIVE_UP, None)
    assert charge_day(DAY, None) == DAY and charge_day(DAY, date(2027, 1, 5)) == date(2027, 1, 5)


def test_a_plan_is_broken_by_a_miss_complete_when_all_paid_and_active_while_open():
    assert plan_state([S.PAID, S.DUE, S.DUE]) is PlanState.ACTIVE
    assert plan_state([S.PAID, S.IN_FLIGHT]) is PlanState.ACTIVE
    assert plan_state([S.PAID, S.FAILED, S.DUE]) is PlanState.ACTIVE
    assert plan_state([S.PAID, S.PAID, S.PAID]) is PlanState.COMPLETE
    assert plan_state([S.PAID, S.MISSED, S.CANCELLED]) is PlanState.BROKEN
    assert plan_state([S.PAID, S.PAID, S.CANCELLED]) is PlanState.ENDED


def test_the_account_leaves_the_plan_paid_or_active_again():
    nothing, some = Money(0), Money(1)
    assert account_after_plan(PlanState.ACTIVE, some) is None
    assert account_after_plan(PlanState.COMPLETE, nothing) == "paid"
    assert account_after_plan(PlanState.COMPLETE, some) == "active"  # the balance grew meanwhile
    assert account_after_plan(PlanState.BROKEN, some) == "active"  # dialing resumes
    assert account_after_plan(PlanState.ENDED, nothing) == "paid"


def test_the_debtors_date_is_the_accounts_zone_else_the_first_phones_else_utc():
    assert debtor_zone("Europe/Madrid", ["America/New_York"]) == "Europe/Madrid"
    assert debtor_zone("", ["America/New_York", "America/Chicago"]) == "America/New_York"
    assert debtor_zone("", []) == debtor_zone("", [""]) == "UTC"
    # 04:30 UTC on the 3rd is still the 2nd in Los Angeles, already the 3rd in Madrid.
    now = datetime(2027, 1, 3, 4, 30, tzinfo=UTC)
    assert local_date(now, "America/Los_Angeles") == date(2027, 1, 2)
    assert local_date(now, "Europe/Madrid") == date(2027, 1, 3)
    assert local_date(datetime(2027, 1, 2, 11, 0, tzinfo=UTC), "Pacific/Auckland") == \
        date(2027, 1, 3)
    with pytest.raises(ValueError, match="'Mars/Olympus' is not an IANA"):
        local_date(now, "Mars/Olympus")
    with pytest.raises(ValueError, match="time zone"):
        local_date(datetime(2027, 1, 3), "UTC")


def test_an_instalment_is_charged_on_its_day_never_more_than_is_owed():
    amount = Money(10000)
    assert next_step(S.DUE, amount, DAY, date(2027, 1, 1), "in_plan", Money(20000)) == Wait(DAY)
    assert next_step(S.DUE, amount, DAY, DAY, "in_plan", Money(20000)) == Charge(amount)
    assert next_step(S.FAILED, amount, DAY, date(2027, 1, 9), "in_plan", Money(20000)) == \
        Charge(amount)  # late (the timer did not run): charged all the same
    assert next_step(S.DUE, amount, DAY, DAY, "in_plan", Money(2550)) == Charge(Money(2550))
    assert next_step(S.DUE, amount, DAY, DAY, "in_plan", Money(0)) == Cancel("nothing is owed")
    assert next_step(S.DUE, amount, DAY, DAY, "disputed", Money(20000)) == \
        Cancel("the account is disputed")
    with pytest.raises(TransitionError):
        next_step(S.IN_FLIGHT, amount, DAY, DAY, "in_plan", Money(20000))


def test_each_charge_of_an_instalment_has_its_own_key_derived_from_it():
    plan = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert instalment_key(plan, 2, 3) == f"recobro-{plan}-i2-3"
    assert instalment_key(plan, 2, 3) == instalment_key(plan, 2, 3)
    assert len({instalment_key(plan, n, a) for n in (2, 3) for a in (2, 3, 4)}) == 6


def test_the_command_takes_a_date_and_names_a_bad_one(capsys):
    args = cli.build_parser().parse_args(["payments", "run-instalments", "--today", "2027-01-02"])
    assert (args.action, args.today) == ("run-instalments", DAY)
    assert cli.build_parser().parse_args(["payments", "run-instalments"]).today is None
    with pytest.raises(SystemExit) as exited:
        cli.main(["payments", "run-instalments", "--today", "2/1/2027"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--today" in err and "'2/1/2027' is not a date" in err


def test_the_command_without_a_gateway_says_which_setting(monkeypatch, capsys, tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    monkeypatch.setenv("RECOBRO_ENV_FILE", str(empty))
    monkeypatch.delenv("RECOBRO_PAYMENT_GATEWAY_URL", raising=False)
    assert cli.main(["payments", "run-instalments"]) == 2
    assert "RECOBRO_PAYMENT_GATEWAY_URL" in capsys.readouterr().err
