from datetime import UTC, datetime

from dialer.calls.events import DtmfReceived, PlaybackFinished
from ivr import greeting
from ivr.greeting import GreetingState, Hangup, Listen, Play
from ivr.prompts import Prompt

NOW = datetime(2026, 11, 23, tzinfo=UTC)
DONE = PlaybackFinished(call_id="c", at=NOW, playback_id="p")
KEY = DtmfReceived(call_id="c", at=NOW, digit="1")


def test_silent_debtor_hears_greeting_then_goodbye():
    flow, actions = greeting.start()
    assert actions == [Play(Prompt.GREETING)]
    flow, actions = greeting.on_event(flow, DONE)
    assert flow.state is GreetingState.LISTENING
    assert actions == [Listen(greeting.LISTEN_SECONDS)]
    flow, actions = greeting.on_silence(flow)
    assert actions == [Play(Prompt.GOODBYE)]
    flow, actions = greeting.on_event(flow, DONE)
    assert flow.state is GreetingState.DONE and actions == [Hangup()]


def test_key_during_greeting_skips_the_listening_window():
    flow, _ = greeting.start()
    flow, actions = greeting.on_event(flow, KEY)
    assert actions == [] and flow.keys_pressed == 1
    flow, actions = greeting.on_event(flow, DONE)
    assert flow.state is GreetingState.SAYING_GOODBYE and actions == [Play(Prompt.GOODBYE)]


def test_key_while_listening_ends_the_wait():
    flow, _ = greeting.start()
    flow, _ = greeting.on_event(flow, DONE)
    flow, actions = greeting.on_event(flow, KEY)
    assert flow.state is GreetingState.SAYING_GOODBYE and actions == [Play(Prompt.GOODBYE)]
    flow, actions = greeting.on_silence(flow)
    assert actions == []  # a stale timer changes nothing
