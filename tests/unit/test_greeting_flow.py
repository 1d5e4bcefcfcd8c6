"""The greeting flow: what it asks to play and when it hangs up."""

from ivr.actions import Hangup, Key, KeyMode, Listen, Play, Silence, Unplayable, sound
from ivr.greeting import LISTEN_SECONDS, Greeting, GreetingState
from ivr.prompts import Prompt

GOODBYE = [Play(sound(Prompt.GOODBYE.value), keys=KeyMode.BUFFER), Hangup("flow finished")]


def test_silent_debtor_hears_greeting_then_goodbye():
    flow = Greeting()
    state, actions = flow.start()
    assert actions == [Play(sound(Prompt.GREETING.value), keys=KeyMode.BUFFER),
                       Listen(LISTEN_SECONDS)]
    state, actions = flow.on(state, Silence())
    assert state is GreetingState.SAYING_GOODBYE and actions == GOODBYE


def test_key_during_greeting_skips_the_listening_window():
    # A key pressed while the greeting plays is kept for the listening
    # moment (KeyMode.BUFFER), which it ends at once: goodbye.
    flow = Greeting()
    state, actions = flow.start()
    assert actions[0].keys is KeyMode.BUFFER and isinstance(actions[1], Listen)
    state, actions = flow.on(state, Key("1"))
    assert state is GreetingState.SAYING_GOODBYE and actions == GOODBYE


def test_key_while_listening_ends_the_wait():
    flow = Greeting()
    state, _ = flow.start()
    state, actions = flow.on(state, Key("5"))
    assert actions == GOODBYE


def test_nothing_playable_ends_the_call():
    flow = Greeting()
    state, _ = flow.start()
    state, actions = flow.on(state, Unplayable("sound:hello-world"))
    assert actions == [Hangup("flow finished")]
