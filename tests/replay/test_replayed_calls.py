"""The engine, the greeting flow and bridging to an agent, driven through
traffic recorded from the lab (tests/replay/fixtures), without the lab:
each test places a traffic scenario's call (lab/traffic_scenarios.py) with
the real Engine and its AMI and ARI adapters against a replay Asterisk, and
checks what the engine asked of Asterisk and what it made of the answers.
Timings come from Asterisk's recorded clock, so a call replayed in a tenth
of a second still rang and talked as long as it did in the lab."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dialer.calls.events import DtmfReceived
from dialer.calls.outcome import CallOutcome
from dialer.engine import Engine
from dialer.errors import AriError
from ivr.actions import Key, sound
from ivr.prompts import Prompt
from lab.config import CALLER_ID, TRUNK
from lab.traffic import Fixture
from lab.traffic_scenarios import AGENT, Scenario, ScenarioRun, run_scenario, scenario
from tests.replay.conftest import REPLAY_APP
from tests.replay.replay_asterisk import describe

PLAY = "ARI POST /channels/{id}/play"
HANG_UP = "ARI DELETE /channels/{id}"
# Between the engine's clock (when it originated) and Asterisk's recorded
# clock moved to the replay's first request: a few milliseconds apart.
CLOCKS_APART_S = 0.25


def recorded_ami_time(fixture: Fixture, event: str, **headers: str) -> float:
    """Asterisk's time (Unix) of the first recorded AMI event of that name
    whose headers have those values."""
    for line in fixture.lines:
        if line.via == "ami" and line.header("Event") == event and all(
                line.header(name) == value for name, value in headers.items()):
            return float(line.header("Timestamp"))
    raise AssertionError(f"{fixture.scenario}: no {event} {headers} recorded")


def recorded_originate_time(fixture: Fixture) -> float:
    originate = next(line for line in fixture.lines if line.header("Action") == "Originate")
    return fixture.started_epoch + originate.t


async def test_an_answered_call_is_greeted_keys_are_heard_and_it_is_hung_up(replay):
    replayed = await replay(scenario("greeting_key"))
    call = replayed.run.record

    plays = replayed.requests(PLAY)
    assert [play["media"] for play in plays] == [sound(Prompt.GREETING.value),
                                                 sound(Prompt.GOODBYE.value)]
    assert {(play["path"], play["lang"]) for play in plays} == {
        (f"/channels/{call.call_id}/play", "en")}
    # The debtor keyed 4 during the greeting (kept for its listening
    # moment, which it ends) and 7 during the goodbye (no one listens then).
    assert [e.digit for e in replayed.run.events if isinstance(e, DtmfReceived)] == ["4", "7"]
    assert replayed.run.told == [Key("4")]
    assert replayed.requests(HANG_UP) == [{"path": f"/channels/{call.call_id}",
                                           "reason": "normal"}]

    assert call.outcome is CallOutcome.ANSWERED
    assert call.hung_up_by_app and call.hangup_cause == 16
    assert call.dtmf_count == 2
    fixture = replayed.asterisk.fixture
    answered = recorded_ami_time(fixture, "Newstate", ChannelStateDesc="Up")
    ended = recorded_ami_time(fixture, "Hangup")
    assert call.ring_seconds == pytest.approx(answered - recorded_originate_time(fixture),
                                              abs=CLOCKS_APART_S)
    assert call.talk_seconds == pytest.approx(ended - answered, abs=0.002)

    kinds = [kind for kind, _ in replayed.stored]
    assert kinds[:2] == ["call_originated", "call_ringing"]
    assert kinds[-2:] == ["hangup_requested", "call_hung_up"]
    # AMI's answer and ARI's StasisStart come on two sockets, in either order.
    assert sorted(kinds[2:-2]) == sorted(["call_answered", "call_entered_app", "dtmf_received",
                                          "playback_finished", "dtmf_received",
                                          "playback_finished"])


async def test_an_answered_call_is_bridged_to_the_agent_recorded_and_torn_down(replay):
    replayed = await replay(scenario("agent_bridge"))
    call = replayed.run.record
    leg = f"{call.call_id}-{AGENT}"

    assert replayed.requests("ARI POST /channels") == [{
        "path": "/channels", "endpoint": f"PJSIP/{AGENT}", "channelid": leg, "app": REPLAY_APP,
        "appargs": "flow=agent", "callerid": CALLER_ID, "timeout": "10"}]
    assert replayed.requests("ARI POST /bridges/{id}") == [
        {"path": f"/bridges/{call.call_id}", "type": "mixing"}]
    assert replayed.requests("ARI POST /bridges/{id}/addChannel") == [
        {"path": f"/bridges/{call.call_id}/addChannel", "channel": f"{call.call_id},{leg}"}]
    [mix] = replayed.requests("AMI MixMonitor")
    assert mix["file"] == f"recobro-{call.call_id}.wav"
    assert mix["channel"].startswith(f"PJSIP/{TRUNK}-")  # the debtor's channel, by its name
    # The debtor hung up: the agent's leg is hung up, then the bridge goes.
    sent = [describe(line) for line in replayed.asterisk.heard]
    assert sent[-2:] == [HANG_UP, "ARI DELETE /bridges/{id}"]
    assert replayed.requests(HANG_UP) == [{"path": f"/channels/{leg}", "reason": "normal"}]
    assert replayed.run.agents.moves == [("on_call", AGENT),
                                         ("recording", f"recobro-{call.call_id}.wav"),
                                         ("wrap_up", AGENT)]

    assert call.outcome is CallOutcome.CALLEE_HUNG_UP
    assert not call.hung_up_by_app
    # The lab's debtor stays 3 s (number plan 103), by Asterisk's clock.
    assert call.talk_seconds == pytest.approx(3.0, abs=0.3)


async def test_a_busy_line_ends_the_call_busy_without_a_flow(replay):
    busy = scenario("busy")
    replayed = await replay(busy)
    call = replayed.run.record

    assert [describe(line) for line in replayed.asterisk.heard] == [
        "AMI Login", "ARI WebSocket /events", "AMI Originate"]
    [originate] = replayed.requests("AMI Originate")
    assert originate["channel"] == f"PJSIP/{busy.number}@{TRUNK}"
    assert originate["channelid"] == call.call_id
    assert originate["data"] == f"{REPLAY_APP},flow=greeting,language=en"
    assert originate["timeout"] == "4000"
    assert call.outcome is CallOutcome.BUSY
    assert call.hangup_cause == 17
    assert call.answered_at is None and call.talk_seconds is None
    assert replayed.run.told == []
    assert [kind for kind, _ in replayed.stored] == ["call_originated", "call_hung_up"]


async def test_a_phone_nobody_answers_rings_until_the_ring_timeout(replay):
    no_answer = scenario("no_answer")
    replayed = await replay(no_answer)
    call = replayed.run.record

    [originate] = replayed.requests("AMI Originate")
    assert originate["timeout"] == f"{no_answer.ring_timeout_s * 1000:.0f}"
    assert call.outcome is CallOutcome.NO_ANSWER
    assert call.hangup_cause == 19
    assert call.ringing_at is not None and call.answered_at is None
    # Two seconds of ringing in the lab, replayed in a few hundredths.
    assert call.ring_seconds == pytest.approx(no_answer.ring_timeout_s, abs=CLOCKS_APART_S)
    assert [kind for kind, _ in replayed.stored] == ["call_originated", "call_ringing",
                                                     "call_hung_up"]


async def test_a_request_the_recording_lacks_fails_naming_it_and_what_was_expected(replay):
    async def busy_then_music(engine: Engine, busy: Scenario) -> ScenarioRun:
        run = await run_scenario(engine, busy)
        with pytest.raises(AriError, match=r"replay: unexpected ARI POST /channels/\{id\}/moh"):
            await engine.hold(run.record.call_id, True)
        return run

    replayed = await replay(scenario("busy"), busy_then_music)
    call_id = replayed.run.record.call_id
    expected = (f"unexpected ARI POST /channels/{{id}}/moh mohclass=default, "
                f"path=/channels/{call_id}/moh: the recording expected nothing more")
    assert replayed.asterisk.failures == [expected]
    replayed.asterisk.failures.clear()  # else the fixture fails the test, as it should


async def test_a_request_sent_otherwise_than_recorded_fails_naming_both(replay):
    # The code now rings 3 s where the recording's engine rang 4.
    replayed = await replay(replace(scenario("busy"), ring_timeout_s=3.0))
    assert replayed.asterisk.failures == [
        "AMI Originate sent timeout=3000; the recording has timeout=4000"]
    replayed.asterisk.failures.clear()
