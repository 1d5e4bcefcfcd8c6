from datetime import UTC, datetime

from dialer.calls.events import (
    CallAnswered,
    CallEnteredApp,
    CallHungUp,
    CallRinging,
    DtmfReceived,
    PlaybackFinished,
)
from dialer.telephony import ami_events, ari_events

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_ami_newstate_and_hangup():
    ringing = ami_events.to_call_event(
        {"event": "Newstate", "uniqueid": "u1", "channelstatedesc": "Ringing",
         "timestamp": "1795462687.070367"}, NOW)
    assert isinstance(ringing, CallRinging) and ringing.call_id == "u1"
    assert ringing.at == datetime.fromtimestamp(1795462687.070367, tz=UTC)
    up = ami_events.to_call_event(
        {"event": "Newstate", "uniqueid": "u1", "channelstatedesc": "Up"}, NOW)
    assert isinstance(up, CallAnswered) and up.at == NOW
    hangup = ami_events.to_call_event(
        {"event": "Hangup", "uniqueid": "u1", "cause": "17", "cause-txt": "User busy"}, NOW)
    assert hangup == CallHungUp(call_id="u1", at=NOW, cause=17, cause_text="User busy")


def test_ami_events_that_mean_nothing():
    assert ami_events.to_call_event({"event": "Newstate", "uniqueid": "u1",
                                     "channelstatedesc": "Down"}, NOW) is None
    assert ami_events.to_call_event({"event": "FullyBooted"}, NOW) is None
    assert ami_events.to_call_event({"event": "Hangup", "uniqueid": "u",
                                     "cause": "x"}, NOW).cause == 0


def test_ari_events():
    start = ari_events.to_call_event(
        {"type": "StasisStart", "timestamp": "2026-11-23T19:44:47.065+0000",
         "args": ["outbound", "en"], "channel": {"id": "c1"}}, NOW)
    assert start == CallEnteredApp(call_id="c1", at=datetime(2026, 11, 23, 19, 44, 47, 65000,
                                                             tzinfo=UTC), language="en",
                                   args=("outbound", "en"))
    judged = ari_events.to_call_event(
        {"type": "StasisStart", "args": ["campaign", "es", "MACHINE", "MAXWORDS"],
         "channel": {"id": "c2"}}, NOW)
    assert (judged.language, judged.amd_status) == ("es", "MACHINE")
    dtmf = ari_events.to_call_event({"type": "ChannelDtmfReceived", "digit": "4",
                                     "channel": {"id": "c1"}}, NOW)
    assert isinstance(dtmf, DtmfReceived) and dtmf.digit == "4"
    done = ari_events.to_call_event({"type": "PlaybackFinished",
                                     "playback": {"id": "p1", "target_uri": "channel:c1"}}, NOW)
    assert done == PlaybackFinished(call_id="c1", at=NOW, playback_id="p1")
    assert ari_events.to_call_event({"type": "PlaybackFinished",
                                     "playback": {"target_uri": "bridge:b"}}, NOW) is None
    assert ari_events.to_call_event({"type": "StasisEnd", "channel": {"id": "c1"}}, NOW) is None
