"""The self-service menu's flow."""

from ivr import self_service as ss
from ivr.actions import (
    Finish,
    Hangup,
    Key,
    KeyMode,
    Listen,
    Play,
    Silence,
    Unplayable,
    sound,
)

MENU = [Play(sound(ss.MENU)), Listen(ss.KEY_TIMEOUT_S)]


def test_balance_then_promise():
    flow = ss.SelfService("250.75")
    menu, actions = flow.start()
    assert actions == MENU
    menu, actions = flow.on(menu, Key("1"))
    assert actions == [Play(sound(ss.YOUR_BALANCE)), Play("number:250"), *MENU]
    menu, actions = flow.on(menu, Key("2"))
    assert actions == [ss.RecordPromise(7), Play(sound(ss.PROMISE_RECORDED), KeyMode.BUFFER),
                       Hangup(ss.FINISHED)]


def test_an_agent_on_request_or_after_three_silences():
    flow = ss.SelfService("1")
    menu, _ = flow.start()
    assert flow.on(menu, Key("0"))[1] == [Finish(ss.TO_AGENT)]
    menu, actions = flow.on(menu, Silence())
    assert actions == MENU
    menu, actions = flow.on(menu, Key("7"))  # a wrong key counts as silence
    assert actions == MENU
    menu, actions = flow.on(menu, Silence())
    assert actions == [Finish(ss.TO_AGENT)]


def test_a_menu_nobody_can_hear_goes_to_an_agent():
    flow = ss.SelfService("1")
    menu, _ = flow.start()
    assert flow.on(menu, Unplayable(sound(ss.MENU)))[1] == [Finish(ss.TO_AGENT)]


def test_the_self_service_menu_offers_the_pay_key_only_when_a_payment_can_be_taken():
    menu, actions = ss.SelfService("250.75", can_pay=True).start()
    assert actions == [Play(sound(ss.MENU)), Play(sound(ss.PAY)), Listen(ss.KEY_TIMEOUT_S)]
    assert ss.SelfService("250.75", can_pay=True).on(menu, Key(ss.PAY_KEY))[1] == \
        [Finish(ss.TO_PAY)]
    menu, actions = ss.SelfService("250.75").start()
    assert sound(ss.PAY) not in [a.media for a in actions if isinstance(a, Play)]
    assert ss.SelfService("250.75").on(menu, Key(ss.PAY_KEY))[1] == actions  # a wrong key
