"""Agentless press-to-pay campaigns (issue 14): the right-party check and
the menu of the self-service route (on the real ivr.runner over a scripted
call and a virtual clock), what its calls come to (never an abandon), how
the campaign is paced without agents, how it is created, and the lab's
keying debtors' scripts."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from dialer.calls.caller_id import Debtor
from dialer.calls.outcome import AttemptResult, Connection, attempt_result
from dialer.compliance import gate
from dialer.errors import ConfigError, LabError
from dialer.outbound.commands import build_campaign
from dialer.outbound.plan import plan_lines
from dialer.outbound.results import PacingFeed
from dialer.outbound.self_service import UNVERIFIED, VERIFIED, SelfServiceRoute
from dialer.portfolio.model import AnsweredTo, RetryDelays
from ivr import account_prompt, press_to_pay, self_service
from ivr.actions import sound
from lab import key_scripts
from lab.number_plan import Behaviour
from lab.pstn_scenario import render_pstn_scenario
from pacing.model import CallAbandoned, CallResolved, DialResult
from pacing.policies.simple import Progressive
from tests.unit import virtual_time
from tests.unit.scripted_call import NOW, ScriptedCall
from tests.unit.test_payment_stasis import keys

CALL_ID = str(uuid.UUID(int=7))
DEBTOR = Debtor("Ana", "7100001", "+12125550010")
MENU = sound(self_service.MENU)
DEBT_SOUNDS = {MENU, sound(self_service.YOUR_BALANCE), sound(self_service.PAY)}


class Pool:
    """The account the route reads, and the promises it writes."""

    def __init__(self) -> None:
        self.promises: list[tuple] = []

    async def fetchrow(self, query: str, *args):
        if args[0] in (7, "7100001"):
            return (7, "7100001", "180.25", "USD", "es", "active", "", "America/New_York")
        return None

    async def execute(self, query: str, *args) -> None:
        assert "INSERT INTO promises" in query
        self.promises.append(args)


def serve(moves, debtor: Debtor | None = DEBTOR):
    pool = Pool()

    async def main():
        call = ScriptedCall(moves)
        route = SelfServiceRoute(call, pool, "press", "+15550100", payments=None)
        call.start()
        return call, await route.serve(CALL_ID, call.events, debtor)

    call, served = virtual_time.run(main())
    return call, served, pool


def test_a_wrong_account_number_twice_hears_nothing_of_the_debt():
    call, served, pool = serve(keys("7100999#", "7100999#"))
    assert served.connection == UNVERIFIED and not served.wants_agent
    assert call.played == [sound(account_prompt.SOUND), sound(account_prompt.SOUND),
                           sound(press_to_pay.NOT_VERIFIED.sound)]
    assert not DEBT_SOUNDS & set(call.played) and not pool.promises


def test_silence_is_no_proof():
    call, served, _ = serve([])
    assert served.connection == UNVERIFIED
    assert not DEBT_SOUNDS & set(call.played)


def test_an_adopted_call_nobody_can_check_ends_unverified():
    call, served, _ = serve([], debtor=None)
    assert served.connection == UNVERIFIED
    assert call.played == [sound(press_to_pay.NOT_VERIFIED.sound)]


def test_the_debtor_proves_the_account_then_hears_the_balance_and_promises():
    call, served, pool = serve(keys("7100001#", "1", "2", gap=2.0))
    assert served.connection == VERIFIED and not served.wants_agent
    assert call.played[0] == sound(account_prompt.SOUND) and call.played[1] == MENU
    assert "number:180" in call.played  # the balance, said after key 1
    assert sound(self_service.PAY) not in call.played  # no gateway: no pay key
    [(account, attempt, days, _)] = pool.promises
    assert (account, attempt, days) == (7, uuid.UUID(CALL_ID), self_service.PROMISE_DAYS)
    assert call.hung_up == [self_service.FINISHED]


def test_the_second_try_may_prove_it_and_0_asks_for_an_agent():
    _, served, _ = serve(keys("123#", "7100001#", "0"))
    assert served.connection == VERIFIED and served.wants_agent


@pytest.mark.parametrize("keyed, proved", [
    ("7100001", True), ("", False), (None, False), ("710000", False), ("71000011", False)])
def test_only_the_reference_itself_proves_the_account(keyed, proved):
    assert press_to_pay.proves(keyed, "7100001") is proved


# What the calls come to.

class Call:
    """A finished answered call (dialer.calls.outcome.FinishedCall)."""

    call_id = "c1"
    outcome = None
    answered_at = NOW
    ringing_at = NOW
    originated_at = NOW - timedelta(seconds=5)
    entered_app_at = None
    amd_status = ""
    ended_at = NOW + timedelta(seconds=90)
    originate_reason = None
    hangup_cause = 16
    lost = False


def test_a_self_service_call_is_served_or_unverified_never_abandoned():
    assert attempt_result(Call(), VERIFIED) is AttemptResult.SELF_SERVED
    assert attempt_result(Call(), UNVERIFIED) is AttemptResult.UNVERIFIED
    agent = Connection(agent="agent1001", connected_at=NOW, self_service=True, verified=True)
    assert attempt_result(Call(), agent) is AttemptResult.CONVERSATION  # 0, then an agent
    for result in (AttemptResult.SELF_SERVED, AttemptResult.UNVERIFIED):
        policy = Progressive()
        feed = PacingFeed(policy, NOW - timedelta(hours=1), lambda: NOW)
        feed.ended(Call(), VERIFIED, result)  # type: ignore[arg-type]
        events = [heard.event for heard in feed.take()]
        assert [type(e) for e in events] == [CallResolved]
        assert events[0].result is DialResult.LIVE
        assert not any(isinstance(e, CallAbandoned) for e in events)


def test_a_served_debtor_waits_reg_fs_week_and_a_wrong_party_the_hang_up_delay():
    retry = RetryDelays()
    assert gate.next_callable_at(AttemptResult.SELF_SERVED, NOW, retry) == NOW + timedelta(days=7)
    assert gate.next_callable_at(AttemptResult.UNVERIFIED, NOW, retry) == NOW + timedelta(
        seconds=retry.hung_up_s)


# Pacing and creation.

def campaign(**settings):
    base = {"ratio": 2.0, "abandon_target": 0.03, "caller_id": "15550100", "window": "local",
            "ring_timeout_s": 25, "wrap_up_s": 5, "early_max_dpd": 30, "mid_max_dpd": 90,
            "segments": "early,mid,late", "strategies": None}
    return build_campaign("press", "predictive", **{**base, **settings})


def test_an_agentless_campaign_keeps_its_lines_full_and_no_more():
    press = campaign(answered_to="self_service", lines=4)
    assert (press.answered_to, press.max_lines) == (AnsweredTo.SELF_SERVICE, 4)
    assert plan_lines(press, 1).guaranteed == 3 and plan_lines(press, 1).extra == 0
    assert plan_lines(press, 4).guaranteed == 0 and plan_lines(press, 9).guaranteed == 0
    assert plan_lines(press, 0).all_segments == press.segments


def test_campaign_settings_for_where_answered_calls_go():
    assert campaign().answered_to is AnsweredTo.AGENT and campaign().max_lines is None
    assert campaign(answered_to="self_service").max_lines == 10
    with pytest.raises(ConfigError, match="--lines 3: only with --answered-to self_service"):
        campaign(lines=3)
    with pytest.raises(ConfigError, match="--lines 0: allowed from 1 to 2000"):
        campaign(answered_to="self_service", lines=0)
    with pytest.raises(ConfigError, match="--answered-to 'robot': use agent or self_service"):
        campaign(answered_to="robot")


# The lab's keying debtors.

def test_the_shared_key_scripts_parse_and_prove_their_accounts():
    scripts = key_scripts.load()
    assert scripts, "tests/fixtures/demo_cards.toml has no scripts"
    for script in scripts.values():
        assert script.keys.lstrip(",")[:len(script.account) + 1] == script.account + "#" \
            or "wrong party" in script.what or script.answered_to is AnsweredTo.AGENT
    assert AnsweredTo.AGENT in {s.answered_to for s in scripts.values()}


@pytest.mark.parametrize("text, message", [
    ('[scripts."1"]\naccount = "1"\nwhat = "x"\nkeys = "1#"', "two-digit PP"),
    ('[scripts."01"]\naccount = "1"\nkeys = "1#"', "account, what and keys"),
    ('[scripts."01"]\naccount = "1"\nwhat = "x"\nkeys = "1A#"', "keys holds 'A'"),
    ('[scripts."01"]\naccount = "1"\nwhat = "x"\nkeys = "1#"\nstay = 0', "stay 0: whole"),
    ('[scripts."01"]\naccount = "1"\nwhat = "x"\nkeys = "1#"\nanswered_to = "ivr"',
     "answered_to 'ivr': agent or self_service"),
    ('[scripts."01"\n', "key scripts"),
])
def test_a_bad_script_is_named(text, message):
    with pytest.raises(LabError, match=message):
        key_scripts.parse(text)


def test_a_missing_scripts_file_says_where_the_cards_live(tmp_path):
    with pytest.raises(LabError, match="live in a checkout's tests/ only"):
        key_scripts.load(tmp_path / "demo_cards.toml")
    assert key_scripts.load_if_present(tmp_path / "demo_cards.toml") == {}


def test_the_pstn_plays_each_script_by_its_pp():
    script = key_scripts.KeyScript("07", "42", "x", ",,42#,3")
    xml = render_pstn_scenario(Path("/lab"), {"07": script})
    assert f'variable="behaviour" compare="equal" value="{Behaviour.ANSWER_AND_KEY_SCRIPT.value}"' \
        in xml
    assert '<test assign_to="is_script_07" variable="hold" compare="equal" value="7"/>' in xml
    assert '<pause milliseconds="2000"/>' in xml  # the script's leading pause
    assert 'play_pcap_audio="/lab/key-script-07.pcap"' in xml
    assert '<assign assign_to="hold" value="240"/>' in xml  # stays until hung up
    short = key_scripts.parse('[scripts."07"]\naccount = "4"\nwhat = "x"\nkeys = ",4#"\n'
                              'stay = 9')
    assert short["07"].stay_s == 9
    assert '<assign assign_to="hold" value="9"/>' in render_pstn_scenario(Path("/lab"), short)
