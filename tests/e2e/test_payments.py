"""Debtors paying by keypad, against the lab (issue 14): an inbound caller
presses the self-service pay key and keys a Stripe test card over RFC 4733
(sipp, through the trunk); what they heard is checked in the audio they
received. `recobro inbound` charges through the lab's Stripe mock
(localstripe, over HTTP) and keeps the results in the ledger's tables,
where they are read. The card digits live here only."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ivr import numbers, self_service
from lab import asterisk, sipp
from lab.config import TRUNK
from payment_ivr import prompts as p
from tests.audio import capture_lab, read_wav, received, sent
from tests.e2e.artefacts import KeyedCard, assert_no_card_data
from tests.e2e.cli import cli_env, run_cli
from tests.e2e.scraped import scraped, value
from tests.e2e.sounds import reference
from tests.e2e.test_campaign import fetch

pytestmark = pytest.mark.lab

APPROVED_CARD = "4242424242424242"  # Stripe's test Visa: succeeds
# Declined when charged, by Stripe and by localstripe (which approves
# 4000000000000002 charged once: docs/payments.md).
DECLINED_CARD = "4000000000000341"
WRONG_LUHN = "4242424242424241"
EXPIRY, CVV = "1230", "123"
CALLER = "+12125550184"  # Luis: low risk, so self-service first
ACCOUNTS = ("reference,debtor_name,balance,days_past_due,risk_score,language,phone1\n"
            "PAY-1,Luis,250.75,15,0.1,es,+12125550184\n"
            "7001,Ana,100.00,40,0.6,en,+13125550190\n")
PAY_BY_PHONE = "lab-pay-by-phone"  # the lab's example of an engineer's dialplan


def pause(seconds: int) -> str:
    """A pause in a key script (sipp.call_in: each ',' is a second)."""
    return "," * seconds


def keyed_card(number: str) -> str:
    """Keys of a card as a debtor enters it after the request: the number
    and #, the expiry, the CVV, each after hearing its prompt."""
    return f"{pause(7)}{number}#{pause(6)}{EXPIRY}{pause(6)}{CVV}"


# The caller hears the self-service menu and its pay offer to the end (about
# 14 s from the answer; keys start 2 s in) and presses 3, hears the balance
# and presses 1 (pay it in full).
TO_THE_CARD = f"{pause(13)}3{pause(8)}1"
CONFIRM = f"{pause(17)}1"  # after the read-back: brand, last four, amount


@contextmanager
def payment_desk(lab_config, url: str, tmp_path: Path, csv: str = ACCOUNTS) -> Iterator[str]:
    """The accounts of csv imported and `recobro inbound` taking calls with
    the lab's card gateway (logging at DEBUG to desk.log); yields the
    database URL its captures are recorded in."""
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(csv)
    result = run_cli("accounts", "import", str(accounts),
                     RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    with (tmp_path / "desk.log").open("w") as log:
        desk = subprocess.Popen(
            ["recobro", "inbound"], cwd=tmp_path,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True,
            env=cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url,
                        RECOBRO_LOG_LEVEL="DEBUG"))
        try:
            started = desk.stdout.readline()
            assert "taking calls" in started and "no card gateway" not in started, started
            yield url
        finally:
            desk.terminate()
            desk.wait(timeout=30)


def payments(url: str) -> list[dict]:
    """Every capture the ledger recorded, oldest first."""
    rows = asyncio.run(fetch(
        url, "SELECT c.*, a.reference AS account FROM payment_captures c "
             "JOIN accounts a ON a.id = c.account_id ORDER BY c.recorded_at"))
    return [{**dict(r), "amount": None if r["amount"] is None else
             {"cents": int(r["amount"] * 100), "currency": r["currency"]},
             "reference": r["gateway_reference"]} for r in rows]


def heard_at(lab_config, call, sound: str, tmp_path, before_s: float | None = None
             ) -> float | None:
    """Where in the call (or in its first before_s seconds) the caller
    heard sound (in Spanish), or None."""
    found = call.match(read_wav(reference(lab_config, sound, "es", tmp_path)),
                       before_s=before_s)
    return found.offset if found.found() else None


def assert_no_card_anywhere(lab_config, url: str, tmp_path: Path, *cards: str) -> None:
    """No number, expiry or CVV of the cards keyed in any artefact of the
    run (tests/e2e/artefacts.py): the database, the desk's log, Asterisk's
    logs, CDRs and CEL, the recordings."""
    assert_no_card_data(lab_config, url, [KeyedCard(card, EXPIRY, CVV) for card in cards],
                        logs=[tmp_path / "desk.log"])


def test_a_caller_keys_a_wrong_luhn_then_a_test_card_and_pays(lab_config, fresh_database,
                                                             tmp_path):
    url = fresh_database
    keys = (TO_THE_CARD + keyed_card(WRONG_LUHN).replace(f"#{pause(6)}{EXPIRY}{pause(6)}{CVV}",
                                                         "#")
            + pause(3) + keyed_card(APPROVED_CARD) + CONFIRM)
    with payment_desk(lab_config, url, tmp_path) as ledger, \
            capture_lab(lab_config, tmp_path / "pay.pcap") as capture:
        sipp.call_in(lab_config, CALLER, keys=keys, stay_s=115)
    [paid] = payments(ledger)
    assert paid["outcome"] == "paid" and paid["option"] == "full"
    assert (paid["amount"], paid["brand"], paid["last4"]) == (
        {"cents": 25075, "currency": "USD"}, "visa", "4242")
    assert paid["attempts"] == 1 and paid["reference"].startswith("pi_")  # Stripe's
    assert paid["call_id"]
    balance = asyncio.run(fetch(url, "SELECT balance, status FROM accounts "
                                     "WHERE reference = 'PAY-1'"))[0]
    assert (balance["balance"], balance["status"]) == (0, "paid")
    luis = received(capture.path, lab_config.sip_port, lab_config.port_base + 97)[0]
    # The offer before the payment (the menu is said again after it).
    offer = heard_at(lab_config, luis, self_service.PAY, tmp_path, before_s=20)
    invalid = heard_at(lab_config, luis, p.CARD_INVALID.sound, tmp_path)
    read_back = heard_at(lab_config, luis, p.PAYING_WITH.sound, tmp_path)
    approved = heard_at(lab_config, luis, p.APPROVED_CARD.sound, tmp_path)
    assert None not in (offer, invalid, read_back, approved), (offer, invalid, read_back,
                                                               approved)
    assert offer < invalid < read_back < approved  # the wrong Luhn was asked again
    # The recording was muted for the capture and resumed, in the call's
    # events (an inbound caller in self-service is not recorded: Asterisk
    # says so, and that is noted too).
    muted = asyncio.run(fetch(url, "SELECT detail FROM call_events WHERE kind = "
                                   "'recording_muted' ORDER BY at"))
    assert [json.loads(r["detail"])["muted"] for r in muted] == [True, False]
    assert_no_card_anywhere(lab_config, url, tmp_path, APPROVED_CARD, WRONG_LUHN)


def test_a_declined_card_is_told_so_and_another_card_pays(lab_config, fresh_database,
                                                         tmp_path):
    url = fresh_database
    keys = (TO_THE_CARD + keyed_card(DECLINED_CARD) + CONFIRM
            # "Su tarjeta fue rechazada. Para intentar con otra tarjeta, pulse 1."
            + pause(9) + "1" + keyed_card(APPROVED_CARD) + CONFIRM)
    with payment_desk(lab_config, url, tmp_path) as ledger, \
            capture_lab(lab_config, tmp_path / "pay.pcap") as capture:
        sipp.call_in(lab_config, CALLER, keys=keys, stay_s=150)
        # The desk's metrics, as the lab's Prometheus scrapes them: one
        # capture, paid in full, and its money; nothing of the card.
        captures = scraped(lab_config, 'recobro_payment_captures_total{process="inbound"}')
        money = scraped(lab_config, 'recobro_paid_amount_total{process="inbound"}')
    [paid] = payments(ledger)
    assert [(c["metric"]["outcome"], c["metric"]["option"], value(c)) for c in captures] \
        == [("paid", "full", 1.0)]
    assert [(m["metric"]["currency"], value(m)) for m in money] \
        == [(paid["amount"]["currency"], paid["amount"]["cents"] / 100)]
    assert paid["outcome"] == "paid" and paid["attempts"] == 2 and paid["last4"] == "4242"
    assert paid["decline_reason"] == "card_declined"  # the first card's
    luis = received(capture.path, lab_config.sip_port, lab_config.port_base + 97)[0]
    declined = heard_at(lab_config, luis, p.DECLINED.sound, tmp_path)
    another = heard_at(lab_config, luis, p.ANOTHER_CARD.sound, tmp_path)
    approved = heard_at(lab_config, luis, p.APPROVED_CARD.sound, tmp_path)
    assert None not in (declined, another, approved), (declined, another, approved)
    assert declined < another < approved
    assert_no_card_anywhere(lab_config, url, tmp_path, APPROVED_CARD, DECLINED_CARD)


def test_hanging_up_mid_capture_stores_only_the_outcome(lab_config, fresh_database, tmp_path):
    url = fresh_database
    # Half the card number keyed, then the caller hangs up.
    keys = TO_THE_CARD + pause(7) + APPROVED_CARD[:8]
    with payment_desk(lab_config, url, tmp_path):
        sipp.call_in(lab_config, CALLER, keys=keys, stay_s=22)
        for _ in range(50):  # the desk records the outcome once it hears the hang-up
            if payments(url):
                break
            time.sleep(0.1)
    [ended] = payments(url)
    assert ended["outcome"] == "hung_up" and ended["attempts"] == 0
    assert ended["last4"] is None and ended["brand"] is None and ended["amount"] is None
    rows = asyncio.run(fetch(url, "SELECT kind, detail FROM call_events ORDER BY at"))
    assert [json.loads(r["detail"])["muted"] for r in rows if r["kind"] == "recording_muted"] \
        == [True]  # muted, and never resumed: the call had ended
    assert asyncio.run(fetch(url, "SELECT count(*) AS n FROM promises"))[0]["n"] == 0
    assert_no_card_anywhere(lab_config, url, tmp_path, APPROVED_CARD[:8])


def test_a_debtor_sent_by_the_dialplan_keys_a_card_over_rfc_4733(lab_config, fresh_database,
                                                                 tmp_path):
    """A PSTN debtor called by an engineer's own dialplan
    (Stasis(recobro-inbound, flow=payment,account=7001,language=es)) hears
    the balance, keys 1, a test card, its expiry, CVV and the confirmation
    as RFC 4733 events through the trunk, is told the payment is approved,
    and is given back to the dialplan, which thanks them for a payment
    (RECOBRO_PAYMENT=paid) with Asterisk's own sound."""
    url = fresh_database
    keys = pause(9) + "1" + keyed_card(APPROVED_CARD) + CONFIRM
    debtor = threading.Thread(target=sipp.answer_and_key, args=(lab_config, keys, tmp_path),
                              kwargs={"stay_s": 100})
    with payment_desk(lab_config, url, tmp_path) as ledger, \
            capture_lab(lab_config, tmp_path / "pay.pcap") as capture:
        debtor.start()
        time.sleep(0.5)  # the debtor's phone is listening
        asterisk.originate(lab_config, f"PJSIP/{TRUNK}/sip:+15550109990@{lab_config.host}:"
                                       f"{lab_config.keying_debtor_port}",
                           PAY_BY_PHONE, "7001")
        debtor.join(timeout=160)
    assert not debtor.is_alive()
    [paid] = payments(ledger)
    assert (paid["account"], paid["outcome"], paid["last4"]) == ("7001", "paid", "4242")
    assert paid["amount"] == {"cents": 10000, "currency": "USD"}
    ana_heard = received(capture.path, lab_config.sip_port, lab_config.keying_debtor_port)[0]
    assert heard_at(lab_config, ana_heard, p.BALANCE.sound, tmp_path) is not None  # in Spanish
    # "cien": a hundred on its own, Recobro's recording (Debian's Spanish
    # sounds have none for it).
    assert heard_at(lab_config, ana_heard, numbers.HUNDRED.sound, tmp_path) is not None
    approved = heard_at(lab_config, ana_heard, p.APPROVED_CARD.sound, tmp_path)
    thanked = heard_at(lab_config, ana_heard, "auth-thankyou", tmp_path)
    assert approved is not None and thanked is not None and approved < thanked
    ana_sent = sent(capture.path, lab_config.sip_port, lab_config.keying_debtor_port)[0]
    assert ana_sent.keys == "1" + APPROVED_CARD + "#" + EXPIRY + CVV + "1"  # as RFC 4733
    assert_no_card_anywhere(lab_config, url, tmp_path, APPROVED_CARD)
