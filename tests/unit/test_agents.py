"""The agent state machine, skill routing, and the checks of a skill the
CLI and the API share."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from dialer.agents.commands import parse_skills
from dialer.agents.routing import CallNeeds, Candidate, balance_tier, choose, needs_of
from dialer.agents.state import (
    MISS_REASONS,
    PAUSE_REASONS,
    TRANSITIONS,
    AgentAction,
    AgentState,
    AgentTransitionError,
    apply,
    settled,
)
from dialer.errors import ConfigError
from dialer.limits import check_skill_level, check_skill_name

T0 = datetime(2026, 11, 24, 15, tzinfo=UTC)


def test_a_shift_through_the_state_machine():
    state = apply(AgentState.LOGGED_OUT, AgentAction.LOG_IN)
    for action, expected in [(AgentAction.RESERVE, AgentState.RESERVED),
                             (AgentAction.CONNECT, AgentState.ON_CALL),
                             (AgentAction.HANG_UP, AgentState.WRAP_UP),
                             (AgentAction.READY, AgentState.READY),
                             (AgentAction.LOG_OUT, AgentState.LOGGED_OUT)]:
        state = apply(state, action)
        assert state is expected
    assert apply(AgentState.READY, AgentAction.PAUSE, "lunch") is AgentState.PAUSED


def test_a_pause_needs_a_known_reason():
    with pytest.raises(AgentTransitionError, match="needs a reason: one of break"):
        apply(AgentState.READY, AgentAction.PAUSE)
    with pytest.raises(AgentTransitionError, match="not 'nap'"):
        apply(AgentState.READY, AgentAction.PAUSE, "nap")


@pytest.mark.parametrize("state", list(AgentState))
@pytest.mark.parametrize("action", list(AgentAction))
def test_only_listed_transitions_happen(state, action):
    reason = {AgentAction.PAUSE: PAUSE_REASONS[0],
              AgentAction.MISS: MISS_REASONS[0]}.get(action, "")
    if (state, action) in TRANSITIONS:
        assert apply(state, action, reason) is TRANSITIONS[(state, action)]
    else:
        with pytest.raises(AgentTransitionError, match=f"who is {state.value} cannot"):
            apply(state, action, reason)


def test_an_agent_whose_phone_missed_a_call_is_paused_with_the_reason():
    for reason in MISS_REASONS:
        assert apply(AgentState.RESERVED, AgentAction.MISS, reason) is AgentState.PAUSED
    with pytest.raises(AgentTransitionError, match="missed_call or unreachable"):
        apply(AgentState.RESERVED, AgentAction.MISS, "lunch")
    # A person does not miss calls on the dialer's behalf, nor outside a reservation.
    assert all((state, AgentAction.MISS) not in TRANSITIONS
               for state in AgentState if state is not AgentState.RESERVED)


def test_logging_in_again_changes_nothing():
    for state in AgentState:
        if state is not AgentState.LOGGED_OUT:
            assert apply(state, AgentAction.LOG_IN) is state


def test_a_wrap_up_whose_timer_ran_out_is_ready_for_every_reader():
    since, until = T0 - timedelta(seconds=30), T0 - timedelta(seconds=25)
    assert settled(AgentState.WRAP_UP, since, until, T0) == (AgentState.READY, until)
    later = T0 + timedelta(seconds=5)
    assert settled(AgentState.WRAP_UP, since, later, T0) == (AgentState.WRAP_UP, since)
    assert settled(AgentState.PAUSED, since, None, T0) == (AgentState.PAUSED, since)
    # A wrap-up without a timer (set by hand) waits for nobody.
    assert settled(AgentState.WRAP_UP, since, None, T0) == (AgentState.READY, since)


def test_nobody_leaves_a_call_by_pausing_or_readying():
    for action in (AgentAction.PAUSE, AgentAction.READY):
        assert (AgentState.ON_CALL, action) not in TRANSITIONS
        assert (AgentState.RESERVED, action) not in TRANSITIONS


def test_a_person_can_always_log_an_agent_out():
    for state in AgentState:
        assert apply(state, AgentAction.LOG_OUT) is AgentState.LOGGED_OUT


def agent(name: str, idle_s: float, **skills: int) -> Candidate:
    return Candidate(name, T0 - timedelta(seconds=idle_s),
                     {k.replace("_", ":", 1): v for k, v in skills.items()})


def test_needs_follow_language_balance_and_risk():
    assert balance_tier(Decimal("999.99")) == "low"
    assert balance_tier(Decimal(1000)) == "mid"
    assert balance_tier(Decimal(5000)) == "high"
    needs = needs_of("en", "late", Decimal(7000), 0.8)
    assert needs.required == {"language:en": 1, "tier:high": 1}
    assert needs.preferred == ("segment:late", "tier:high") and needs.most_qualified
    assert not needs_of("es", "early", Decimal(10), 0.2).most_qualified


def test_the_call_goes_to_an_agent_with_the_required_skills_best_match_first():
    spanish_only = agent("a1", 100, language_es=5)
    english = agent("a2", 10, language_en=3, segment_late=4)
    english_idler = agent("a3", 300, language_en=3)
    needs = needs_of("en", "late", Decimal(100), 0.1)
    assert choose([spanish_only, english, english_idler], needs) is english  # better match
    plain = CallNeeds(required={"language:en": 1})
    assert choose([spanish_only, english, english_idler], plain) is english_idler  # idlest
    assert choose([spanish_only], needs) is None


def test_on_an_equal_match_an_agent_of_one_language_goes_before_a_bilingual_one():
    """The bilingual agent, idle longer, is kept for the calls only they can
    take (pacing counts them in one language's pool only)."""
    bilingual = agent("b", 500, language_es=3, language_en=3)
    spanish = agent("s", 5, language_es=3)
    needs = needs_of("es", "late", Decimal(100), 0.1)
    assert choose([bilingual, spanish], needs) is spanish
    fluent = agent("f", 5, language_es=4)
    assert choose([bilingual, agent("f", 5, language_es=2)], needs) is bilingual  # better match
    assert choose([bilingual, fluent], needs) is fluent


def test_high_risk_debtors_go_to_the_best_negotiator_and_high_balances_need_the_tier():
    junior = agent("j", 500, language_es=5, segment_late=5, negotiation=1)
    senior = agent("s", 5, language_es=2, negotiation=5)
    assert choose([junior, senior], needs_of("es", "late", Decimal(100), 0.9)) is senior
    assert choose([junior, senior], needs_of("es", "late", Decimal(100), 0.1)) is junior
    closer = agent("c", 1, language_es=1, tier_high=2)
    assert choose([junior, senior, closer], needs_of("es", "late", Decimal(9000), 0.1)) \
        is closer


def test_a_skill_is_checked_alike_by_the_cli_and_the_api():
    assert parse_skills(" language:es=5, negotiation=3,") == {"language:es": 5,
                                                              "negotiation": 3}
    check_skill_name("the path's 'skill'", "tier:high")
    for skill, words in (("a,b", "holds a comma"), ("a=b", "an equals sign"),
                         (" a", "spaces at an end"), ("", "is empty"),
                         ("x" * 101, "longer than 100"), ("a\tb", "control character")):
        with pytest.raises(ConfigError, match=f"^the path's 'skill': the skill .*{words}"):
            check_skill_name("the path's 'skill'", skill)
    for level in (0, 6):
        with pytest.raises(ConfigError, match=f"^--skills: negotiation={level}: a level is a "
                                              "whole number from 1 to 5$"):
            check_skill_level("--skills", "negotiation", level)
    with pytest.raises(ConfigError, match="--skills: negotiation=9"):
        parse_skills("negotiation=9")
