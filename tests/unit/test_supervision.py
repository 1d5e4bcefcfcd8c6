"""Which channel of a bridge is the agent's, for a supervisor's snoop, and
what each mode asks of the snoop."""

import uuid

import pytest

from dialer import cli
from dialer.agents.supervision import SNOOPS, LegTag, SupervisionMode, agent_channel_of
from dialer.telephony.ari_events import stasis_args, stasis_params

DEBTOR = "4b1e1f0c-6f8a-4d7e-9d55-0f0b7e5f2a10"
PREFIX = "supervise-"


def test_an_agents_session_line_is_the_bridge_it_holds():
    line = "session-agent1004-1a2b3c4d"
    assert agent_channel_of(DEBTOR, line, [line, DEBTOR], PREFIX) == line


def test_an_agent_rung_per_call_is_the_other_leg_of_the_calls_bridge():
    leg = f"{DEBTOR}-agent1001"
    assert agent_channel_of(DEBTOR, DEBTOR, [DEBTOR, leg], PREFIX) == leg


def test_a_supervisor_barged_in_is_not_taken_for_the_agent():
    leg = f"{DEBTOR}-agent1001"
    boss = "supervise-agent1003-9f8e7d6c"
    assert agent_channel_of(DEBTOR, DEBTOR, [DEBTOR, boss, leg], PREFIX) == leg


def test_a_bridge_without_one_agent_has_none():
    assert agent_channel_of(DEBTOR, DEBTOR, [DEBTOR], PREFIX) is None
    assert agent_channel_of(DEBTOR, DEBTOR, [DEBTOR, "a", "b"], PREFIX) is None


def test_listening_sends_nothing_whispering_sends_toward_the_agent_only_barging_no_snoop():
    assert (SNOOPS[SupervisionMode.LISTEN].spy, SNOOPS[SupervisionMode.LISTEN].whisper) == (
        "both", "none")
    assert (SNOOPS[SupervisionMode.WHISPER].spy, SNOOPS[SupervisionMode.WHISPER].whisper) == (
        "both", "out")
    assert SupervisionMode.BARGE not in SNOOPS


def test_a_legs_tag_comes_back_from_its_stasis_arguments():
    tag = LegTag(uuid.UUID(DEBTOR), SupervisionMode.WHISPER, "agent1003",
                 "session-agent1004-1a2b3c4d")
    args = stasis_args(flow="supervise", **tag.params()).split(",")
    assert LegTag.of(stasis_params(args)) == tag


@pytest.mark.parametrize(("params", "error"), [
    ({"mode": "listen", "supervisor": "agent1003", "agent": "a"},
     "the leg has no 'call' argument"),
    ({"call": DEBTOR, "mode": "listen", "supervisor": "agent1003"},
     "the leg has no 'agent' argument"),
    ({"call": "12345", "mode": "listen", "supervisor": "agent1003", "agent": "a"},
     "the leg's 'call' argument '12345' is no call id"),
    ({"call": DEBTOR, "mode": "shout", "supervisor": "agent1003", "agent": "a"},
     "the leg's 'mode' argument 'shout' is no mode"),
])
def test_a_leg_without_a_whole_tag_is_named(params, error):
    with pytest.raises(ValueError) as refused:
        LegTag.of(params)
    assert str(refused.value) == error


@pytest.mark.parametrize("mode", ["--listen", "--stop"])
def test_the_cli_names_a_call_id_that_is_no_uuid(capsys, mode):
    assert cli.main(["supervise", "12345", mode, "--supervisor", "agent1003"]) == 2
    assert capsys.readouterr().err == (
        "recobro: error: supervise: CALL_ID '12345' is not a call's id (a UUID)\n")


def test_the_cli_takes_one_mode_exactly(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["supervise", DEBTOR, "--listen", "--barge", "--supervisor", "agent1003"])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["supervise", DEBTOR, "--listen", "--stop", "--supervisor", "agent1003"])
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["supervise", DEBTOR, "--supervisor", "agent1003"])
    assert "one of the arguments --listen --whisper --barge --stop is required" in (
        capsys.readouterr().err)
