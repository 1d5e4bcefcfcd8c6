from datetime import UTC, datetime

from dialer.calls.events import (
    CallAnswered,
    CallEnteredApp,
    CallHungUp,
    CallRinging,
    DtmfReceived,
    OriginateFailed,
    PaymentRequested,
    PlaybackFailed,
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


def test_an_originate_asterisk_could_not_place_fails_at_once():
    # Recorded from the lab: `recobro call 'abc/def'` (no channel was made).
    response = {"actionid": "action/13df73d3-537a-4205-953e-9917cfb19243/1/2",
                "application": "Stasis", "calleridname": "<unknown>",
                "calleridnum": "+15550100000", "channel": "PJSIP/abc/def@recobro-trunk",
                "data": "recobro-call-7344d90821ff,greeting,es", "event": "OriginateResponse",
                "privilege": "call,all", "reason": "0", "response": "Failure",
                "timestamp": "1796221243.061002",
                "uniqueid": "138ad17d-3285-4401-a2cf-9e7b160e2fbb"}
    failed = ami_events.to_call_event(response, NOW)
    assert failed == OriginateFailed(call_id="138ad17d-3285-4401-a2cf-9e7b160e2fbb",
                                     at=datetime.fromtimestamp(1796221243.061002, tz=UTC),
                                     reason=0)
    assert ami_events.to_call_event(dict(response, response="Success"), NOW) is None


def test_ami_events_that_mean_nothing():
    assert ami_events.to_call_event({"event": "Newstate", "uniqueid": "u1",
                                     "channelstatedesc": "Down"}, NOW) is None
    assert ami_events.to_call_event({"event": "FullyBooted"}, NOW) is None
    assert ami_events.to_call_event({"event": "Hangup", "uniqueid": "u",
                                     "cause": "x"}, NOW).cause == 0


def test_ari_events():
    start = ari_events.to_call_event(
        {"type": "StasisStart", "timestamp": "2026-11-23T19:44:47.065+0000",
         "args": ["flow=greeting", "language=en"], "channel": {"id": "c1"}}, NOW)
    assert start == CallEnteredApp(call_id="c1", at=datetime(2026, 11, 23, 19, 44, 47, 65000,
                                                             tzinfo=UTC), flow="greeting",
                                   language="en",
                                   params={"flow": "greeting", "language": "en"})
    # Arguments by name, in any order; an empty one (AMD's cause when there
    # is none) says nothing.
    judged = ari_events.to_call_event(
        {"type": "StasisStart", "args": ["flow=campaign", "amd=MACHINE", "language=es",
                                         "amd_cause=", "stray"], "channel": {"id": "c2"}}, NOW)
    assert (judged.flow, judged.language, judged.amd_status) == ("campaign", "es", "MACHINE")
    assert judged.params == {"flow": "campaign", "amd": "MACHINE", "language": "es"}
    inbound = ari_events.to_call_event(
        {"type": "StasisStart", "args": ["flow=inbound", "caller=+12125550181"],
         "channel": {"id": "c3"}}, NOW)
    assert (inbound.flow, inbound.params["caller"]) == ("inbound", "+12125550181")
    assert ari_events.stasis_args(flow="campaign", language="es") == "flow=campaign,language=es"
    dtmf = ari_events.to_call_event({"type": "ChannelDtmfReceived", "digit": "4",
                                     "channel": {"id": "c1"}}, NOW)
    assert isinstance(dtmf, DtmfReceived) and dtmf.digit == "4"
    done = ari_events.to_call_event({"type": "PlaybackFinished",
                                     "playback": {"id": "p1", "target_uri": "channel:c1"}}, NOW)
    assert done == PlaybackFinished(call_id="c1", at=NOW, playback_id="p1")
    assert ari_events.to_call_event({"type": "PlaybackFinished",
                                     "playback": {"target_uri": "bridge:b"}}, NOW) is None
    assert ari_events.to_call_event({"type": "StasisEnd", "channel": {"id": "c1"}}, NOW) is None


def test_ari_says_a_channel_is_gone_as_ami_does():
    # As Asterisk 22 sends it (fields trimmed): a hang-up heard on ARI too
    # outlives an AMI outage.
    gone = ari_events.to_call_event(
        {"type": "ChannelDestroyed", "timestamp": "2026-12-04T02:23:12.418+0000", "cause": 16,
         "cause_txt": "Normal Clearing", "channel": {"id": "c1", "state": "Up"}}, NOW)
    assert gone == CallHungUp(call_id="c1", at=datetime(2026, 12, 4, 2, 23, 12, 418000,
                                                        tzinfo=UTC),
                              cause=16, cause_text="Normal Clearing")
    odd = ari_events.to_call_event({"type": "ChannelDestroyed", "cause": "x",
                                    "channel": {"id": "c2"}}, NOW)
    assert odd == CallHungUp(call_id="c2", at=NOW, cause=0, cause_text="")


# Recorded from the lab's Asterisk 22: a sound that does not exist.
FAILED_PLAYBACK = {
    "type": "PlaybackFinished", "timestamp": "2026-12-02T13:05:09.790+0000",
    "playback": {"id": "pb-1", "media_uri": "sound:recobro/no-such-sound",
                 "target_uri": "channel:probe-1", "language": "es", "state": "failed"},
    "asterisk_id": "02:fc:00:00:00:01", "application": "probe"}


def test_a_playback_that_failed_is_not_a_finished_one():
    event = ari_events.to_call_event(FAILED_PLAYBACK, NOW)
    assert isinstance(event, PlaybackFailed) and not isinstance(event, PlaybackFinished)
    assert (event.call_id, event.playback_id, event.media, event.language) == (
        "probe-1", "pb-1", "sound:recobro/no-such-sound", "es")
    assert "could not play sound:recobro/no-such-sound in language 'es'" in event.reason
    assert not event.hung_up
    done = dict(FAILED_PLAYBACK, playback=dict(FAILED_PLAYBACK["playback"], state="done"))
    assert isinstance(ari_events.to_call_event(done, NOW), PlaybackFinished)


def test_a_playback_cut_short_by_a_hang_up_is_not_an_unplayable_sound():
    # Recorded from the lab (trimmed): the debtor hung up 3 s into a 12 s
    # message; ChannelHangupRequest came first, then the playback "failed".
    hangup = {"type": "ChannelHangupRequest", "timestamp": "2026-12-02T13:41:25.709+0000",
              "channel": {"id": "probe-3", "name": "PJSIP/recobro-trunk-0000001a",
                          "state": "Up", "language": "es"},
              "asterisk_id": "02:fc:00:00:00:01", "application": "probe"}
    cut = {"type": "PlaybackFinished", "timestamp": "2026-12-02T13:41:25.709+0000",
           "playback": {"id": "pb-3", "media_uri": "sound:recobro/safe-harbour",
                        "target_uri": "channel:probe-3", "language": "es", "state": "failed"},
           "asterisk_id": "02:fc:00:00:00:01", "application": "probe"}
    assert ari_events.hung_up_channel(hangup) == "probe-3"
    assert ari_events.hung_up_channel(cut) is None
    event = ari_events.to_call_event(cut, NOW, hanging_up={"probe-3"})
    assert isinstance(event, PlaybackFailed) and event.hung_up
    assert event.reason == "the call hung up while sound:recobro/safe-harbour played"


def test_an_agents_payment_request_reaches_the_call_as_a_user_event():
    request = ari_events.to_call_event(
        {"type": "ChannelUserevent", "eventname": ari_events.PAYMENT_REQUEST,
         "channel": {"id": "c1"}, "userevent": {"agent": "agent1001"}}, NOW)
    assert request == PaymentRequested(call_id="c1", at=NOW, agent="agent1001")
    other = {"type": "ChannelUserevent", "eventname": "SomethingElse", "channel": {"id": "c1"}}
    assert ari_events.to_call_event(other, NOW) is None


def test_the_stasis_application_a_channel_is_in():
    inbound = {"dialplan": {"app_name": "Stasis",
                            "app_data": "recobro-inbound,flow=inbound,caller=+1212"}}
    assert ari_events.stasis_app_of(inbound) == "recobro-inbound"
    assert ari_events.stasis_app_of({"dialplan": {"app_name": "Dial", "app_data": "x"}}) is None
    assert ari_events.stasis_app_of({}) is None


def test_the_stasis_arguments_a_channel_runs_with():
    leg = {"dialplan": {"app_name": "Stasis",
                        "app_data": "recobro-api,flow=supervise,mode=listen,supervisor=agent1003"}}
    assert ari_events.stasis_params_of(leg) == {"flow": "supervise", "mode": "listen",
                                                "supervisor": "agent1003"}
    assert ari_events.stasis_params_of({"dialplan": {"app_name": "Dial",
                                                     "app_data": "x,flow=y"}}) == {}
