"""AmiClient against AMI recorded from the lab's Asterisk 22
(tests/fixtures/ami, written by `python -m lab.ami_recording`), replayed by
panoramisk's own test double, panoramisk.testing.Manager: the login, its
refusal in words naming the settings, the Originate as written on the wire
(Stasis arguments by name, the AMD context), a refused action, and a
call's events becoming call events. No lab needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from panoramisk import testing, utils

from dialer.calls.events import CallAnswered, CallEvent, CallHungUp, CallRinging
from dialer.errors import AmiError
from dialer.settings import AmiSettings
from dialer.telephony.ami import AmiClient
from lab.ami_recording import RECORDED_CALL_ID

STREAMS = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
SETTINGS = AmiSettings(host="127.0.0.1", port=5038, user="recobro", secret="test-only")


class Replay:
    """Opens AmiClient's link as a panoramisk.testing.Manager that answers
    each action from a recorded stream."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.manager: testing.Manager | None = None

    async def open_link(self, settings: AmiSettings, **config: Any) -> testing.Manager:
        self.manager = testing.Manager(stream=str(STREAMS / self.stream), **config)
        return self.manager

    def answer_next_with(self, stream: str) -> None:
        assert self.manager is not None
        self.manager.stream = str(STREAMS / stream)

    def asterisk_says(self, stream: str) -> None:
        """Asterisk's unprompted messages (events), as read from the socket."""
        assert self.manager is not None
        self.manager.protocol.data_received((STREAMS / stream).read_bytes())

    def written(self) -> str:
        """Everything AmiClient wrote to Asterisk."""
        assert self.manager is not None
        return b"".join(call.args[0] for call in
                        self.manager.protocol.transport.write.call_args_list).decode()


@pytest.fixture(autouse=True)
def _framing_put_back(monkeypatch):
    # panoramisk.testing switches every AMI link in the process to "\n"
    # line ends (its streams' own); a real link after this test needs "\r\n".
    monkeypatch.setattr(utils, "EOL", utils.EOL)


async def _logged_in(events: list[CallEvent]) -> tuple[AmiClient, Replay]:
    replay = Replay("login_ok.ami")
    client = AmiClient(SETTINGS, events.append, open_link=replay.open_link)
    await client.connect()
    return client, replay


async def test_a_recorded_call_becomes_call_events():
    events: list[CallEvent] = []
    client, replay = await _logged_in(events)
    try:
        assert client.connected and client.session == 1
        assert "Action: Login\n" in replay.written() and "Events: call\n" in replay.written()
        replay.answer_next_with("originate_queued.ami")
        await client.originate(call_id=RECORDED_CALL_ID, channel="PJSIP/+15550101100@trunk",
                               app="recobro-recording", flow="greeting", language="es",
                               caller_id="+15550100000", timeout_s=20)
        replay.asterisk_says("answered_call.ami")
    finally:
        await client.close()
    assert [type(e) for e in events] == [CallRinging, CallAnswered, CallHungUp]
    assert {e.call_id for e in events} == {RECORDED_CALL_ID}
    hung_up = events[-1]
    assert isinstance(hung_up, CallHungUp) and hung_up.cause == 16
    assert events[0].at < events[1].at < hung_up.at  # Asterisk's own timestamps


async def test_the_originate_as_written_names_its_stasis_arguments_or_the_amd_context():
    client, replay = await _logged_in([])
    try:
        replay.answer_next_with("originate_queued.ami")
        await client.originate(call_id="c1", channel="PJSIP/+15550101100@trunk", app="recobro",
                               flow="campaign", language="en", caller_id="+15550100000",
                               timeout_s=25)
        direct = replay.written().rsplit("Action: Originate", 1)[1]
        assert "Application: Stasis\n" in direct
        assert "Data: recobro,flow=campaign,language=en\n" in direct
        assert "ChannelId: c1\n" in direct and "Timeout: 25000\n" in direct
        await client.originate(call_id="c2", channel="PJSIP/+15550101100@trunk", app="recobro",
                               flow="campaign", language="en", caller_id="+15550100000",
                               timeout_s=25, amd=True)
        amd = replay.written().rsplit("Action: Originate", 1)[1]
        assert "Context: recobro-amd\n" in amd and "Application:" not in amd
        assert ("Variable: RECOBRO_APP=recobro\nVariable: RECOBRO_FLOW=campaign\n"
                "Variable: RECOBRO_LANGUAGE=en\n") in amd
    finally:
        await client.close()


async def test_a_refused_login_names_the_settings():
    replay = Replay("login_refused.ami")
    client = AmiClient(SETTINGS, lambda event: None, open_link=replay.open_link)
    with pytest.raises(AmiError, match="refused user 'recobro': check RECOBRO_AMI_USER and "
                                       r"RECOBRO_AMI_SECRET \(Authentication failed\)"):
        await client.connect()
    assert not client.connected and client.session == 0


async def test_an_action_asterisk_refuses_is_an_error_in_its_words():
    client, replay = await _logged_in([])
    try:
        replay.answer_next_with("action_refused.ami")
        with pytest.raises(AmiError, match="AMI MixMonitor refused: No such channel"):
            await client.record("PJSIP/no-such-channel-00000000", "recording-check")
    finally:
        await client.close()
