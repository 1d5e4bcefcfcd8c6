"""The self-service menu's state machine."""

from ivr import self_service as ss


def test_balance_then_promise():
    menu, actions = ss.start()
    assert actions == [ss.Play(ss.MENU), ss.ListenForKey()]
    menu, actions = ss.on_key(menu, "1", "250.75")
    assert actions == [ss.Play(ss.YOUR_BALANCE), ss.SayAmount("250.75"), ss.Play(ss.MENU),
                       ss.ListenForKey()]
    menu, actions = ss.on_key(menu, "2", "250.75")
    assert actions == [ss.RecordPromise(7), ss.Play(ss.PROMISE_RECORDED), ss.Hangup()]
    assert menu.state is ss.State.DONE
    assert ss.on_key(menu, "1", "1") == (menu, [])  # nothing after the end


def test_an_agent_on_request_or_after_three_silences():
    menu, _ = ss.start()
    assert ss.on_key(menu, "0", "1")[1] == [ss.ToAgent()]
    menu, actions = ss.on_silence(menu)
    assert actions == [ss.Play(ss.MENU), ss.ListenForKey()]
    menu, actions = ss.on_key(menu, "7", "1")  # a wrong key counts as silence
    assert actions == [ss.Play(ss.MENU), ss.ListenForKey()]
    menu, actions = ss.on_silence(menu)
    assert actions == [ss.ToAgent()] and menu.state is ss.State.TO_AGENT

