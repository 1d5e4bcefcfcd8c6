"""What an agent's phone shows and hears: the caller ID of a debtor's call,
the answers to feature codes, and the reasons of a pause by code."""

from dialer.agents.feature_codes import answer, pause_reason
from dialer.agents.state import PAUSE_REASONS, AgentAction, AgentState
from dialer.agents.store import Moved
from dialer.calls.caller_id import AgentCallerId, Debtor, agent_caller_id
from ivr import agent_prompts

ROSA = Debtor(name="Rosa Díaz", reference="IN-ES", number="+12125550181")
COMPANY = "+15550100000"


def test_the_agent_phone_shows_the_debtor_as_configured():
    assert agent_caller_id(AgentCallerId.DEBTOR, ROSA, COMPANY) == '"Rosa Díaz" <+12125550181>'
    assert agent_caller_id(AgentCallerId.REFERENCE, ROSA, COMPANY) == '"IN-ES" <+12125550181>'
    assert agent_caller_id(AgentCallerId.COMPANY, ROSA, COMPANY) == COMPANY
    assert agent_caller_id(AgentCallerId.DEBTOR, None, COMPANY) == COMPANY  # an adopted call


def test_a_name_cannot_break_the_sip_header():
    hostile = Debtor(name='Eve "x" \\\r\nVia: evil' + "y" * 80, reference="R", number="+1 (212) 555")
    shown = agent_caller_id(AgentCallerId.DEBTOR, hostile, COMPANY)
    name, number = shown[1:].split('" <')
    assert '"' not in name and "\\" not in name and "\n" not in name and len(name) <= 40
    assert number == "+1212555>"
    unnamed = Debtor(name="", reference="", number="+12125550181")
    assert agent_caller_id(AgentCallerId.DEBTOR, unnamed, COMPANY) == "+12125550181"


def test_feature_codes_answer_with_the_state_the_agent_is_in():
    logged_out, ready = AgentState.LOGGED_OUT, AgentState.READY
    assert answer(AgentAction.LOG_IN, Moved(logged_out, ready)) is agent_prompts.LOGGED_IN
    assert answer(AgentAction.LOG_IN, Moved(ready, ready)) is agent_prompts.ALREADY_LOGGED_IN
    assert answer(AgentAction.LOG_OUT, Moved(ready, logged_out)) is agent_prompts.LOGGED_OUT
    assert answer(AgentAction.PAUSE,
                  Moved(ready, AgentState.PAUSED)) is agent_prompts.PAUSED
    assert answer(AgentAction.READY, Moved(AgentState.PAUSED, ready)) is agent_prompts.READY


def test_pause_codes_name_their_reason():
    assert pause_reason("") == "break"
    assert [pause_reason(str(n)) for n in range(1, len(PAUSE_REASONS) + 1)] == \
        list(PAUSE_REASONS)
    assert pause_reason("9") == pause_reason("0") == pause_reason("x") == ""
