"""Outbound debtors paying by keypad, against the lab (issue 14): an
agentless press-to-pay campaign (`--answered-to self_service`) dials the
lab's keying debtors (number plan behaviour 0, their scripts and test cards
in tests/fixtures/demo_cards.toml), who prove their account, press 3 and
key a card over RFC 4733 through the trunk; `recobro campaign run` charges
through the lab's localstripe over HTTP. What each debtor heard is checked
in the audio they received; the ledger, the accounts and the attempts are
read in PostgreSQL; a wrong party hears nothing of the debt."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from ivr import account_prompt, press_to_pay, self_service
from lab import key_scripts
from lab.number_plan import Behaviour, lab_number
from payment_ivr import prompts as p
from tests.audio import capture_lab, received, sent
from tests.e2e.cli import cli_env
from tests.e2e.test_campaign import cli, fetch
from tests.e2e.test_payments import (
    APPROVED_CARD,
    DECLINED_CARD,
    assert_no_card_anywhere,
    heard_at,
    payments,
)

pytestmark = pytest.mark.lab

SCRIPTS = key_scripts.load()
PAYS, DECLINED_THEN_PAYS, WRONG_PARTY = SCRIPTS["01"], SCRIPTS["02"], SCRIPTS["09"]
PRESSES_0 = SCRIPTS["04"]
BALANCES = {PAYS.account: "180.25", DECLINED_THEN_PAYS.account: "99.50",
            WRONG_PARTY.account: "420.00", PRESSES_0.account: "75.00"}
ALL_DAY = "00:00-24:00"


def number_of(script: key_scripts.KeyScript) -> str:
    """The lab number whose debtor keys script (New York, like +1 212)."""
    return lab_number(Behaviour.ANSWER_AND_KEY_SCRIPT, script.number, prefix="+1212555")


def press_to_pay_campaign(lab_config, url: str, tmp_path: Path, name: str,
                          scripts: tuple[key_scripts.KeyScript, ...]) -> None:
    """The scripts' accounts imported (Spanish, early debt), and a
    self-service campaign for them created and started."""
    rows = ["reference,debtor_name,balance,days_past_due,risk_score,language,phone1"]
    rows += [f"{s.account},Debtor {s.number},{BALANCES[s.account]},15,0.5,es,{number_of(s)}"
             for s in scripts]
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("\n".join(rows) + "\n")
    cli(lab_config, url, "accounts", "import", str(accounts))
    created = cli(lab_config, url, "campaign", "create", name, "--answered-to",
                  "self_service", "--lines", "3", "--window", ALL_DAY, "--ring-timeout", "15")
    assert "self-service, at most 3 call(s) at once" in created.stdout, created.stdout
    cli(lab_config, url, "campaign", "start", name)


def run_dialer(lab_config, url: str, tmp_path: Path, name: str, seconds: int | None) -> str:
    """`recobro campaign run` for seconds, or None: until it is idle (every
    lead due was dialed and no call is up); then its calls end. It logs at
    DEBUG to desk.log (searched for cards); its output."""
    bound = ["--until-idle"] if seconds is None else ["--for", str(seconds)]
    with (tmp_path / "desk.log").open("a") as log:
        done = subprocess.run(
            ["recobro", "campaign", "run", name, *bound],
            env=cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url,
                        RECOBRO_LOG_LEVEL="DEBUG"),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True,
            timeout=(seconds or 200) + 200, check=False)
    assert done.returncode == 0, (tmp_path / "desk.log").read_text()[-3000:]
    return done.stdout


def heard_by(calls, script: key_scripts.KeyScript):
    """The one call the capture has to the script's debtor."""
    [call] = [c for c in calls if c.number and c.number.endswith(number_of(script)[1:])]
    return call


def test_a_press_to_pay_campaign_takes_payments_and_tells_a_wrong_party_nothing(
        lab_config, fresh_database, tmp_path):
    url = fresh_database
    press_to_pay_campaign(lab_config, url, tmp_path, "press-to-pay",
                          (PAYS, DECLINED_THEN_PAYS, WRONG_PARTY))
    with capture_lab(lab_config, tmp_path / "calls.pcap") as capture:
        # Dialing goes on until the longest script (a declined card, then
        # another) has ended and no lead is due: nobody is dialed twice (a
        # served debtor waits Reg F's 7 days, a wrong party the hung-up
        # retry delay).
        output = run_dialer(lab_config, url, tmp_path, "press-to-pay", None)
    assert "idle: nothing left to dial now and no call up" in output, output
    attempts = {r["reference"]: r for r in asyncio.run(fetch(
        url, "SELECT c.reference, a.result, a.agent FROM attempts a "
             "JOIN accounts c ON c.id = a.account_id"))}
    assert {ref: a["result"] for ref, a in attempts.items()} == {
        PAYS.account: "self_served", DECLINED_THEN_PAYS.account: "self_served",
        WRONG_PARTY.account: "unverified"}, output
    assert all(a["agent"] is None for a in attempts.values())

    # The ledger: two payments, the second after a decline; the wrong
    # party's account untouched.
    captures = {c["account"]: c for c in payments(url)}
    assert set(captures) == {PAYS.account, DECLINED_THEN_PAYS.account}
    paid, retried = captures[PAYS.account], captures[DECLINED_THEN_PAYS.account]
    assert (paid["outcome"], paid["option"], paid["amount"], paid["brand"], paid["last4"],
            paid["attempts"]) == ("paid", "full", {"cents": 18025, "currency": "USD"}, "visa",
                                  "4242", 1)
    assert paid["reference"].startswith("pi_")  # localstripe's PaymentIntent
    assert (retried["outcome"], retried["attempts"], retried["last4"],
            retried["decline_reason"]) == ("paid", 2, "4242", "card_declined")
    tried = asyncio.run(fetch(
        url, "SELECT t.status, t.last4 FROM payment_attempts t JOIN accounts c "
             "ON c.id = t.account_id WHERE c.reference = $1 ORDER BY t.attempt",
        DECLINED_THEN_PAYS.account))
    assert [(t["status"], t["last4"]) for t in tried] == [
        ("declined", DECLINED_CARD[-4:]), ("approved", "4242")]
    accounts = {r["reference"]: (r["balance"], r["status"]) for r in asyncio.run(fetch(
        url, "SELECT reference, balance, status FROM accounts"))}
    assert accounts == {PAYS.account: (0, "paid"), DECLINED_THEN_PAYS.account: (0, "paid"),
                        WRONG_PARTY.account: (420, "active")}
    assert asyncio.run(fetch(url, "SELECT count(*) AS n FROM promises"))[0]["n"] == 0
    # No follow-up message for a party who may not be the debtor.
    assert asyncio.run(fetch(url, "SELECT count(*) AS n FROM no_interaction"))[0]["n"] == 0
    # A self-service call is no abandon, and the rate leaves it out.
    status = cli(lab_config, url, "campaign", "status", "press-to-pay").stdout
    assert "abandon rate: 24 h: no live answers" in status, status

    # What each debtor heard (in Spanish), and keyed.
    calls = received(capture.path, lab_config.sip_port, lab_config.pstn_port)
    payer = heard_by(calls, PAYS)
    menu = heard_at(lab_config, payer, self_service.MENU, tmp_path)
    approved = heard_at(lab_config, payer, p.APPROVED_CARD.sound, tmp_path)
    assert None not in (menu, approved) and menu < approved, (menu, approved)
    retrier = heard_by(calls, DECLINED_THEN_PAYS)
    declined = heard_at(lab_config, retrier, p.DECLINED.sound, tmp_path)
    approved = heard_at(lab_config, retrier, p.APPROVED_CARD.sound, tmp_path)
    assert None not in (declined, approved) and declined < approved, (declined, approved)
    stranger = heard_by(calls, WRONG_PARTY)
    asked = heard_at(lab_config, stranger, account_prompt.SOUND, tmp_path)
    told = heard_at(lab_config, stranger, press_to_pay.NOT_VERIFIED.sound, tmp_path)
    assert None not in (asked, told) and asked < told, (asked, told)
    for debt in (self_service.MENU, self_service.YOUR_BALANCE, self_service.PAY,
                 p.BALANCE.sound):
        assert heard_at(lab_config, stranger, debt, tmp_path) is None, debt
    keyed = heard_by(sent(capture.path, lab_config.sip_port, lab_config.pstn_port), PAYS)
    assert keyed.keys.startswith(PAYS.account + "#3")  # over RFC 4733

    # Dialing stops for the paid accounts: due again, they are refused for
    # their status; the wrong party's waits out its retry delay.
    asyncio.run(fetch(url, "UPDATE leads SET next_callable_at = '-infinity'"))
    run_dialer(lab_config, url, tmp_path, "press-to-pay", 3)
    refused = {(r["reference"], r["rule"]) for r in asyncio.run(fetch(
        url, "SELECT c.reference, r.rule FROM compliance_refusals r "
             "JOIN accounts c ON c.id = r.account_id"))}
    assert {(PAYS.account, "account_status"), (DECLINED_THEN_PAYS.account,
                                                "account_status")} <= refused, refused
    assert (WRONG_PARTY.account, "retry_delay") in refused, refused
    assert asyncio.run(fetch(url, "SELECT count(*) AS n FROM attempts"))[0]["n"] == 3
    assert_no_card_anywhere(lab_config, url, tmp_path, APPROVED_CARD, DECLINED_CARD)


@pytest.mark.parametrize("agent_ready", [False, True], ids=["no agent", "an agent"])
def test_a_debtor_who_presses_0_reaches_an_agent_or_is_told_none_is_free(
        lab_config, fresh_database, tmp_path, agent_ready):
    url = fresh_database
    press_to_pay_campaign(lab_config, url, tmp_path, "press-0", (PRESSES_0,))
    agent = lab_config.agents[0].endpoint
    if agent_ready:
        cli(lab_config, url, "agent", "login", agent)
    with capture_lab(lab_config, tmp_path / "calls.pcap") as capture:
        run_dialer(lab_config, url, tmp_path, "press-0", 10)
    [attempt] = asyncio.run(fetch(url, "SELECT result, agent, connected_at, answered_at "
                                       "FROM attempts"))
    debtor = heard_by(received(capture.path, lab_config.sip_port, lab_config.pstn_port),
                      PRESSES_0)
    # (0 cuts the menu short: what follows it is what tells the cases apart.)
    none_free = heard_at(lab_config, debtor, press_to_pay.NO_AGENT.sound, tmp_path)
    assert sent(capture.path, lab_config.sip_port, lab_config.pstn_port)[0].keys \
        == PRESSES_0.account + "#0"
    if agent_ready:  # the campaign flow's own agent path: bridged, a conversation
        assert (attempt["result"], attempt["agent"]) == ("conversation", agent), dict(attempt)
        assert none_free is None
        assert received(capture.path, lab_config.sip_port, lab_config.agents[0].sip_port)
    else:  # told so, politely: served, not abandoned
        assert (attempt["result"], attempt["agent"]) == ("self_served", None), dict(attempt)
        assert none_free is not None
