"""The compliance gate: each rule, its `until`, and Reg F's 7-in-7 held
over a simulated week whatever the attempts come to (property-based)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.calls.outcome import AttemptResult
from dialer.compliance.gate import (
    Allowed,
    GateRules,
    LeadFacts,
    PastAttempt,
    Refused,
    Rule,
    decide,
    decide_for_number,
    next_callable_at,
)
from dialer.portfolio.model import AccountStatus, Phone, PhoneKind, RetryDelays

NY = Phone("+12125551030", PhoneKind.MOBILE, True, True, "US", ("America/New_York",))
NY_HOME = Phone("+12127361030", PhoneKind.HOME, False, False, "US", ("America/New_York",))
FACTS = LeadFacts(reference="R1", status=AccountStatus.ACTIVE, account_opted_out=False,
                  account_time_zone="", phones=(NY, NY_HOME), numbers_on_dnc=frozenset(),
                  campaign_attempts=0, history=())
RULES = GateRules(window_profile="us", max_attempts=20, retry=RetryDelays(),
                  agent_guaranteed=False)
# Tuesday 24 November 2026, 12:00 in New York.
NOON = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)


def refused(facts=FACTS, rules=RULES, now=NOON) -> Refused:
    decision = decide(facts, rules, now)
    assert isinstance(decision, Refused), decision
    return decision


def test_an_active_account_in_its_window_is_allowed_on_its_first_phone():
    assert decide(FACTS, RULES, NOON) == Allowed(NY)


def test_phones_rotate_with_the_attempts():
    assert decide(replace(FACTS, campaign_attempts=1), RULES, NOON) == Allowed(NY_HOME)


def test_closed_accounts_are_never_dialed():
    for status in (AccountStatus.PAID, AccountStatus.SETTLED, AccountStatus.DISPUTED,
                   AccountStatus.CLOSED):
        decision = refused(replace(FACTS, status=status))
        assert decision.rule is Rule.ACCOUNT_STATUS and decision.until is None


def test_opt_out_and_do_not_call():
    assert refused(replace(FACTS, account_opted_out=True)).rule is Rule.OPT_OUT
    one_listed = replace(FACTS, numbers_on_dnc=frozenset({NY.number}))
    assert decide(one_listed, RULES, NOON) == Allowed(NY_HOME)
    both = replace(FACTS, numbers_on_dnc=frozenset({NY.number, NY_HOME.number}))
    assert refused(both).rule is Rule.DO_NOT_CALL


def test_a_mobile_without_consent_is_not_dialed():
    no_consent = replace(NY, consent=False)
    decision = refused(replace(FACTS, phones=(no_consent,)))
    assert decision.rule is Rule.NO_CALLABLE_PHONE


def test_max_attempts():
    decision = refused(replace(FACTS, campaign_attempts=20))
    assert decision.rule is Rule.MAX_ATTEMPTS and decision.until is None


def test_outside_the_window_until_it_opens():
    night = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # 23:00 in New York
    decision = refused(now=night)
    assert decision.rule is Rule.CALLING_WINDOW
    assert decision.until == datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


def test_the_accounts_own_zone_wins_over_the_numbers():
    # 09:00 in New York but 06:00 in Los Angeles, where the debtor lives.
    at = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    assert isinstance(decide(FACTS, RULES, at), Allowed)
    assert refused(replace(FACTS, account_time_zone="America/Los_Angeles"), now=at).rule \
        is Rule.CALLING_WINDOW


def attempts(*items: tuple[timedelta, AttemptResult | None]) -> tuple[PastAttempt, ...]:
    return tuple(PastAttempt(NOON - ago, result) for ago, result in items)


def test_reg_f_seven_attempts_in_seven_days():
    seven = attempts(*[(timedelta(days=6, hours=23 - i), AttemptResult.NO_ANSWER)
                       for i in range(7)])
    decision = refused(replace(FACTS, history=seven))
    assert decision.rule is Rule.REG_F_FREQUENCY
    assert decision.until == NOON - timedelta(days=6, hours=23) + timedelta(days=7)


def test_reg_f_no_call_for_seven_days_after_a_conversation():
    history = attempts((timedelta(days=3), AttemptResult.CONVERSATION))
    decision = refused(replace(FACTS, history=history))
    assert decision.rule is Rule.REG_F_CONVERSATION
    assert decision.until == NOON + timedelta(days=4)


def test_retry_delay_by_last_result():
    history = attempts((timedelta(minutes=10), AttemptResult.BUSY))
    decision = refused(replace(FACTS, history=history))
    assert decision.rule is Rule.RETRY_DELAY
    assert decision.until == NOON + timedelta(minutes=5)
    in_flight = attempts((timedelta(seconds=30), None))
    assert refused(replace(FACTS, history=in_flight)).rule is Rule.RETRY_DELAY


def test_abandoned_numbers_wait_72_hours_unless_an_agent_is_guaranteed():
    rules = replace(RULES, retry=RetryDelays(abandoned_s=3600))
    history = attempts((timedelta(hours=5), AttemptResult.ABANDONED))
    decision = refused(replace(FACTS, history=history), rules)
    assert decision.rule is Rule.ABANDONED_72H
    assert decision.until == NOON + timedelta(hours=67)
    guaranteed = replace(rules, agent_guaranteed=True)
    assert isinstance(decide(replace(FACTS, history=history), guaranteed, NOON), Allowed)


def test_next_callable_at():
    retry = RetryDelays()
    assert next_callable_at(AttemptResult.NO_ANSWER, NOON, retry) \
        == NOON + timedelta(seconds=retry.no_answer_s)
    assert next_callable_at(AttemptResult.CONVERSATION, NOON, retry) == NOON + timedelta(days=7)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(list(AttemptResult)), min_size=40, max_size=40),
       st.integers(min_value=1, max_value=7200))
def test_reg_f_holds_over_a_simulated_week(results, retry_s):
    """Ask the gate every 10 minutes for 10 days; call whenever it allows;
    no 7-day window ever holds more than 7 calls placed, and none follows a
    conversation within 7 days (a call the PBX never placed is no call)."""
    rules = replace(RULES, retry=RetryDelays(*(retry_s,) * 6), agent_guaranteed=True)
    history: list[PastAttempt] = []
    now = NOON
    outcomes = iter(results)
    while now < NOON + timedelta(days=10):
        placed = [a for a in history if a.result is not AttemptResult.NOT_PLACED]
        facts = replace(FACTS, history=tuple(history), campaign_attempts=len(placed))
        if isinstance(decide(facts, rules, now), Allowed):
            history.append(PastAttempt(now, next(outcomes, AttemptResult.NO_ANSWER)))
        now += timedelta(minutes=10)
    times = [a.started_at for a in history if a.result is not AttemptResult.NOT_PLACED]
    for start in times:
        assert sum(1 for t in times if start <= t < start + timedelta(days=7)) <= 7
    for attempt in history:
        if attempt.result is AttemptResult.CONVERSATION:
            assert not [t for t in times
                        if attempt.started_at < t < attempt.started_at + timedelta(days=7)]


def test_calls_the_pbx_never_placed_count_for_nothing():
    """Seven attempts Asterisk never placed (out of RTP ports, say): no Reg F
    count, no retry delay; the debtor may be called."""
    never = tuple(PastAttempt(NOON - timedelta(minutes=m), AttemptResult.NOT_PLACED)
                  for m in range(1, 8))
    assert isinstance(decide(replace(FACTS, history=never), RULES, NOON), Allowed)


# decide_for_number: a number another system means to dial (the AGI gate hook).

def test_a_number_is_judged_as_the_leads_only_phone():
    # The lead's attempts would rotate to NY_HOME; the number asked about is NY.
    lead = replace(FACTS, campaign_attempts=1)
    assert decide_for_number(NY.number, [(lead, RULES)], False, NOON) == Allowed(NY)
    assert decide_for_number(NY_HOME.number, [(lead, RULES)], False, NOON) == Allowed(NY_HOME)


def test_a_number_outside_its_window_is_refused_until_it_opens():
    evening = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)  # 17:00 in New York
    nine_to_five = replace(RULES, window_profile="09:00-17:00")
    decision = decide_for_number(NY.number, [(FACTS, nine_to_five)], False, evening)
    assert decision == Refused(Rule.CALLING_WINDOW, "outside the calling window in "
                               "America/New_York", datetime(2026, 11, 25, 14, 0, tzinfo=UTC))


def test_a_number_on_the_list_is_refused_though_the_account_has_another_phone():
    listed = replace(FACTS, numbers_on_dnc=frozenset({NY.number}))
    decision = decide_for_number(NY.number, [(listed, RULES)], False, NOON)
    assert isinstance(decision, Refused) and decision.rule is Rule.DO_NOT_CALL
    assert decide_for_number(NY_HOME.number, [(listed, RULES)], False, NOON) == Allowed(NY_HOME)


def test_a_number_shared_by_two_leads_is_refused_if_either_refuses():
    paid = replace(FACTS, reference="R2", status=AccountStatus.PAID)
    decision = decide_for_number(NY.number, [(FACTS, RULES), (paid, RULES)], False, NOON)
    assert isinstance(decision, Refused) and decision.rule is Rule.ACCOUNT_STATUS


def test_a_number_on_no_lead_is_refused_for_good():
    assert decide_for_number("+15005550199", [], False, NOON) == Refused(
        Rule.NOT_A_LEAD, "the number is no current phone of the campaign's leads", None)
    listed = decide_for_number("+15005550199", [], True, NOON)
    assert isinstance(listed, Refused) and listed.rule is Rule.DO_NOT_CALL
    assert listed.until is None
