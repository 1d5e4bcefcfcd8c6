"""The outbound lifecycles (campaign, lead, attempt) and the disposition
table: every pair of state and action is either in a table or refused with
a message, and the lead an ended attempt retires follows the gate's own
max-attempts rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.agents.disposition import DispositionEffect, NewStatus, consequences
from dialer.compliance.gate import GateRules, LeadFacts, Refused, Rule, decide
from dialer.outbound.lifecycles import (
    CAMPAIGN_TRANSITIONS,
    LEAD_TRANSITIONS,
    AttemptStage,
    CampaignAction,
    CampaignState,
    LeadAction,
    LeadState,
    TransitionError,
    after_attempt,
    after_refusal,
    attempt_stage,
    campaign_after,
    lead_after,
)
from dialer.portfolio.model import (
    AccountStatus,
    DoNotCall,
    DoNotCallReason,
    Phone,
    PhoneKind,
    RetryDelays,
)

NOW = datetime(2026, 12, 2, 15, tzinfo=UTC)


@pytest.mark.parametrize("state", list(CampaignState))
@pytest.mark.parametrize("action", list(CampaignAction))
def test_every_campaign_move_is_in_the_table_or_refused(state, action):
    if (state, action) in CAMPAIGN_TRANSITIONS:
        assert campaign_after(state, action) is CAMPAIGN_TRANSITIONS[state, action]
    else:
        with pytest.raises(TransitionError, match=f"{state.value} cannot {action.value}"):
            campaign_after(state, action)


def test_a_stopped_campaign_is_started_before_it_is_paused_or_resumed():
    refused = {(s, a) for s in CampaignState for a in CampaignAction
               if (s, a) not in CAMPAIGN_TRANSITIONS}
    assert refused == {(CampaignState.STOPPED, CampaignAction.PAUSE),
                       (CampaignState.STOPPED, CampaignAction.RESUME)}
    with pytest.raises(TransitionError, match="start it first"):
        campaign_after(CampaignState.STOPPED, CampaignAction.PAUSE)
    # An operator can always halt dialing.
    assert {campaign_after(s, CampaignAction.STOP) for s in CampaignState} == {
        CampaignState.STOPPED}


@pytest.mark.parametrize("state", list(LeadState))
@pytest.mark.parametrize("action", list(LeadAction))
def test_every_lead_move_is_in_the_table_or_refused(state, action):
    if (state, action) in LEAD_TRANSITIONS:
        assert lead_after(state, action) is LEAD_TRANSITIONS[state, action]
    else:
        with pytest.raises(TransitionError, match=f"lead that is {state.value}"):
            lead_after(state, action)


def test_only_a_ready_lead_is_claimed_and_a_done_lead_never_moves():
    assert [a for a in LeadAction if (LeadState.READY, a) in LEAD_TRANSITIONS] == [
        LeadAction.CLAIM]
    assert [a for a in LeadAction if (LeadState.DONE, a) in LEAD_TRANSITIONS] == []


def test_a_refusal_defers_until_its_time_or_retires_for_good():
    assert after_refusal(NOW + timedelta(hours=1)) is LeadAction.DEFER
    assert after_refusal(None) is LeadAction.RETIRE
    assert lead_after(LeadState.DIALING, after_refusal(None)) is LeadState.DONE


def test_the_last_allowed_attempt_retires_the_lead():
    assert after_attempt(2, 3) == (LeadAction.RETRY, "")
    assert after_attempt(3, 3) == (LeadAction.RETIRE, "max_attempts")


def clean_facts(attempts_made: int) -> LeadFacts:
    phone = Phone("+12125550100", PhoneKind.MOBILE, True, True, "US", ("America/New_York",))
    return LeadFacts(reference="A1", status=AccountStatus.ACTIVE, account_opted_out=False,
                     account_time_zone="", phones=(phone,), numbers_on_dnc=frozenset(),
                     campaign_attempts=attempts_made, history=())


@settings(deadline=None)  # the first case loads the holiday calendars
@given(st.integers(0, 120), st.integers(1, 100))
def test_a_lead_is_retired_exactly_when_the_gate_would_refuse_it_for_attempts(made, maximum):
    """One max-attempts rule: what an ended attempt does to its lead and
    what the gate says of that lead at its next claim."""
    rules = GateRules(window_profile="us", max_attempts=maximum, retry=RetryDelays(),
                      agent_guaranteed=True)
    decision = decide(clean_facts(made), rules, NOW)
    refused_for_attempts = isinstance(decision, Refused) and decision.rule is Rule.MAX_ATTEMPTS
    action, reason = after_attempt(made, maximum)
    assert (action is LeadAction.RETIRE) == refused_for_attempts
    assert reason == (Rule.MAX_ATTEMPTS.value if refused_for_attempts else "")


def test_an_attempt_stage_is_read_from_its_moments():
    assert attempt_stage(None, None, ended=False) is AttemptStage.PLACED
    assert attempt_stage(NOW, None, ended=False) is AttemptStage.ANSWERED
    assert attempt_stage(NOW, NOW, ended=False) is AttemptStage.CONNECTED
    assert attempt_stage(NOW, NOW, ended=True) is AttemptStage.ENDED
    assert attempt_stage(None, None, ended=True) is AttemptStage.ENDED


@pytest.mark.parametrize(("effect", "expected"), [
    (DispositionEffect.NONE, ()),
    (DispositionEffect.CALLBACK, ()),
    (DispositionEffect.PAID, (NewStatus(AccountStatus.PAID),)),
    (DispositionEffect.DISPUTED, (NewStatus(AccountStatus.DISPUTED),)),
    (DispositionEffect.OPT_OUT, (DoNotCall(DoNotCallReason.OPT_OUT, reference="A1"),)),
    (DispositionEffect.WRONG_NUMBER, (DoNotCall(DoNotCallReason.DNC, number="+12125550100"),)),
])
def test_what_each_disposition_effect_changes(effect, expected):
    assert consequences(effect, "A1", "+12125550100") == expected


def test_a_do_not_call_entry_is_a_number_or_an_account_never_both():
    with pytest.raises(ValueError, match="not both"):
        DoNotCall(DoNotCallReason.DNC, number="+12125550100", reference="A1")
    with pytest.raises(ValueError, match="not both"):
        DoNotCall(DoNotCallReason.DNC)
