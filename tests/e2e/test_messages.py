"""Messages end to end (issue 15), as an operator runs them: a campaign with
its messages switched on and templates saved by the CLI calls sipp debtors
through the real Asterisk; `recobro messages run` sends through the lab's
Kannel, and the proof is what fakesmsc received. A debtor who answers and
hangs up without a word gets exactly one text with the template's words
and a link that verifies; an answering machine gets its own; an opted-out
number gets nothing; a STOP sent from fakesmsc opts the account out (one
confirmation comes back) and the campaign dials it no more. A sender
killed with -9 between its claim and the send leaves the message to the
next sender, and it goes out once."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime
from typing import Self
from urllib.parse import urlsplit

import asyncpg
import pytest

from dialer.messages.links import verify_link
from dialer.settings import read_env_file
from lab import kannel, prometheus
from lab.config import CALLER_ID
from tests.e2e.cli import cli_env
from tests.e2e.test_campaign import cli, fetch

pytestmark = pytest.mark.lab

SILENT = "+12125552000"  # answers and hangs up at once (lab behaviour 2)
MACHINE = "+12125559151"  # an answering machine's greeting, 15 s (behaviour 9)
OPTED_OUT = "+12125552002"  # hangs up at once too, opted out before the sender runs
LATER = "+12125551043"  # a debtor for the second run: answers and stays 4 s
NO_ANSWER_ES = ("Hola {{ first_name }}: no pudimos hablar. Pague {{ balance }} en "
                "{{ payment_link }}\n{{ opt_out }}")
MACHINE_EN = "{{ first_name }}, we called about your account. Pay at {{ payment_link }} {{ opt_out }}"


def texts_to(lab_config, number: str, since: int = 0) -> list[str]:
    """What fakesmsc received for number, each text whole (since: after
    the first so many texts it received in all, from earlier runs)."""
    found = kannel.received(lab_config)[since:]
    return [r.decoded() for r in found if r.receiver.lstrip("+") == number.lstrip("+")]


def start_sender(lab_config, url: str, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["recobro", "messages", "run", *args],
        env=cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url, **env),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def counted_messages(lab_config) -> dict[tuple[str, str], float]:
    """The running sender's recobro_messages_total, by channel and outcome."""
    return {(c["metric"]["channel"], c["metric"]["outcome"]): float(c["value"][1])
            for c in prometheus.query(lab_config, 'recobro_messages_total{process="messages"}')}


def wait_for(condition, what: str, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout_s:g} s")


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return out


# Long enough that a random link token cannot hold it by chance (a token
# once held "S0", the reference this debtor had).
SILENT_REF = "SILENT-DEBTOR-0001"


def test_a_silent_hang_up_and_a_machine_get_one_text_each_and_stop_stops(
        lab_config, fresh_database, tmp_path):
    url = fresh_database
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(
        "reference,debtor_name,balance,days_past_due,language,phone1,phone1_sms,phone1_consent\n"
        f"{SILENT_REF},Lucía Gómez,250.00,10,es,{SILENT},yes,yes\n"
        f"M1,Bo Smith,99.00,10,en,{MACHINE},yes,yes\n"
        f"O2,Ana Ruiz,80.00,10,es,{OPTED_OUT},yes,yes\n")
    cli(lab_config, url, "accounts", "import", str(accounts))
    for agent in lab_config.agents:
        cli(lab_config, url, "agent", "login", agent.endpoint)
    cli(lab_config, url, "campaign", "create", "msgs", "--mode", "progressive", "--amd",
        "--window", "00:00-24:00", "--wrap-up", "0")
    cli(lab_config, url, "messages", "on", "--campaign", "msgs", "--trigger", "no_interaction",
        "--channel", "sms", "--within", "10")
    cli(lab_config, url, "messages", "on", "--campaign", "msgs", "--trigger", "machine",
        "--channel", "sms")
    cli(lab_config, url, "template", "set", "--campaign", "msgs", "--trigger",
        "no_interaction", "--channel", "sms", "--language", "es", "--text", NO_ANSWER_ES)
    cli(lab_config, url, "template", "set", "--campaign", "msgs", "--trigger", "machine",
        "--channel", "sms", "--language", "en", "--text", MACHINE_EN)
    cli(lab_config, url, "campaign", "start", "msgs")
    cli(lab_config, url, "campaign", "run", "msgs", "--until-idle", timeout=240)
    results = {r["reference"]: r["result"] for r in asyncio.run(fetch(
        url, "SELECT c.reference, a.result FROM attempts a JOIN accounts c "
             "ON c.id = a.account_id"))}
    assert results == {SILENT_REF: "hung_up", "M1": "machine", "O2": "hung_up"}, results
    cli(lab_config, url, "dnc", "add", "--number", OPTED_OUT, "--reason", "opt_out")
    preview = cli(lab_config, url, "template", "preview", "--campaign", "msgs", "--account",
                  SILENT_REF, "--trigger", "no_interaction", "--channel", "sms").stdout

    since = len(kannel.received(lab_config))
    sender = start_sender(lab_config, url)
    try:
        silent = wait_for(lambda: texts_to(lab_config, SILENT, since), "the silent debtor's text")
        machine = wait_for(lambda: texts_to(lab_config, MACHINE, since), "the machine's text")
        # Exactly the template's words, the previewed message byte for byte.
        assert len(silent) == 1 and silent[0].startswith(
            "Hola Lucía: no pudimos hablar. Pague 250,00 USD en http")
        assert silent[0].endswith("\nResponda BAJA para no recibir mensajes.")
        assert silent[0] in preview
        link = silent[0].split(" en ", 1)[1].split("\n", 1)[0]
        key = read_env_file(lab_config.env_file)["RECOBRO_PAYMENT_LINK_KEY"]
        assert verify_link(link, key, datetime.now(UTC)).token
        assert SILENT_REF not in urlsplit(link).query
        assert machine == [machine[0]] and machine[0].startswith("Bo, we called about")
        assert texts_to(lab_config, OPTED_OUT, since) == []
        delivered = wait_for(lambda: {r["status"] for r in asyncio.run(fetch(
            url, "SELECT status FROM messages WHERE status <> 'refused'"))} == {"delivered"},
            "Kannel's delivery reports")
        assert delivered
        refused = asyncio.run(fetch(url, "SELECT refused_rule FROM messages "
                                         "WHERE status = 'refused'"))
        # Its only number opted out: no number may be texted.
        assert [r["refused_rule"] for r in refused] == ["no_recipient"]
        # The sender's metrics, as the lab's Prometheus scrapes them.
        wait_for(lambda: counted_messages(lab_config) == {("sms", "sent"): 2.0,
                                                          ("sms", "refused"): 1.0},
                 "the sender's counts in Prometheus")

        # The silent debtor texts BAJA back: opted out, one confirmation.
        kannel.send_reply(lab_config, SILENT, CALLER_ID, "baja")
        wait_for(lambda: len(texts_to(lab_config, SILENT, since)) == 2, "the confirmation")
    finally:
        out = stop(sender)
    assert "sent" in out
    assert texts_to(lab_config, SILENT, since)[1] == "Ha pedido la baja: no recibirá más mensajes nuestros."
    opted = asyncio.run(fetch(url, "SELECT reference FROM do_not_call WHERE reason = 'opt_out' "
                                   "AND reference IS NOT NULL"))
    assert [r["reference"] for r in opted] == [SILENT_REF]

    # The campaign dials the silent debtor no more: made callable again and run, only the
    # new debtor is called.
    later = tmp_path / "later.csv"
    later.write_text("reference,debtor_name,balance,days_past_due,phone1\n"
                     f"L3,Luis Mora,40.00,10,{LATER}\n")
    cli(lab_config, url, "accounts", "import", str(later))
    asyncio.run(fetch(url, "UPDATE leads SET next_callable_at = now() - interval '1 hour', "
                           "state = 'ready' WHERE state = 'ready' OR state = 'done'"))
    cli(lab_config, url, "campaign", "run", "msgs", "--until-idle", timeout=120)
    dialed = [r["reference"] for r in asyncio.run(fetch(
        url, "SELECT c.reference FROM attempts a JOIN accounts c ON c.id = a.account_id "
             "ORDER BY a.started_at"))]
    assert dialed.count(SILENT_REF) == 1 and "L3" in dialed, dialed


SAYS_NOTHING = "+12125551024"  # answers, says and keys nothing, hangs up after 2 s


def test_a_press_to_pay_debtor_who_answers_and_says_nothing_for_two_seconds_gets_a_text(
        lab_config, fresh_database, tmp_path):
    """An agentless press-to-pay call (no agent to bridge to, so the debtor
    can stay a second or two): answered, no key, hung up after 2 s during
    the account prompt. Hung up (or unverified, had the flow given its
    verdict before the call was settled), and as nobody keyed anything a
    silent hang-up either way: one text, as the preview shows it."""
    url = fresh_database
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(
        "reference,debtor_name,balance,days_past_due,language,phone1,phone1_sms,phone1_consent\n"
        f"4411,Lucía Gómez,75.00,10,es,{SAYS_NOTHING},yes,yes\n")
    cli(lab_config, url, "accounts", "import", str(accounts))
    cli(lab_config, url, "campaign", "create", "ivr", "--answered-to", "self_service",
        "--lines", "1", "--window", "00:00-24:00", "--ring-timeout", "15")
    cli(lab_config, url, "messages", "on", "--campaign", "ivr", "--trigger", "no_interaction",
        "--channel", "sms", "--within", "10")
    cli(lab_config, url, "template", "set", "--campaign", "ivr", "--trigger",
        "no_interaction", "--channel", "sms", "--language", "es", "--text", NO_ANSWER_ES)
    cli(lab_config, url, "campaign", "start", "ivr")
    cli(lab_config, url, "campaign", "run", "ivr", "--for", "4", timeout=120)
    [attempt] = asyncio.run(fetch(url, "SELECT result, answered_at, ended_at FROM attempts"))
    assert attempt["result"] in ("hung_up", "unverified")
    assert 1.5 <= (attempt["ended_at"] - attempt["answered_at"]).total_seconds() <= 10
    preview = cli(lab_config, url, "template", "preview", "--campaign", "ivr", "--account",
                  "4411", "--trigger", "no_interaction", "--channel", "sms").stdout
    since = len(kannel.received(lab_config))
    cli(lab_config, url, "messages", "run", "--once", timeout=60)
    [text] = wait_for(lambda: texts_to(lab_config, SAYS_NOTHING, since), "the text")
    assert text.startswith("Hola Lucía: no pudimos hablar. Pague 75,00 USD en http")
    assert text in preview
    cli(lab_config, url, "messages", "run", "--once", timeout=60)  # nothing more to send
    time.sleep(1)
    assert texts_to(lab_config, SAYS_NOTHING, since) == [text]


async def _enqueue_one(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(
            "INSERT INTO messages (account_id, campaign_id, trigger, channel, idempotency_key) "
            "SELECT a.id, c.id, 'no_interaction', 'sms', 'attempt:kill-9' "
            "FROM accounts a, campaigns c RETURNING id")
    finally:
        await connection.close()


def test_a_sender_killed_between_claim_and_send_leaves_it_to_the_next_once(
        lab_config, fresh_database, tmp_path):
    url = fresh_database
    number = "+12125552013"
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("reference,debtor_name,balance,days_past_due,language,phone1,"
                        f"phone1_sms,phone1_consent\nK9,Eva Díaz,10.00,10,es,{number},yes,yes\n")
    cli(lab_config, url, "accounts", "import", str(accounts))
    cli(lab_config, url, "campaign", "create", "kill", "--mode", "progressive",
        "--window", "00:00-24:00")
    cli(lab_config, url, "template", "set", "--campaign", "kill", "--trigger",
        "no_interaction", "--channel", "sms", "--language", "es", "--text", NO_ANSWER_ES)
    message = asyncio.run(_enqueue_one(url))
    since = len(kannel.received(lab_config))

    # The first sender's Kannel never answers: it claims the message and
    # hangs in the send, where it is killed.
    with BlackHole() as hole:
        first = start_sender(lab_config, url, "--no-listen",
                             RECOBRO_KANNEL_URL=f"http://127.0.0.1:{hole.port}",
                             RECOBRO_MESSAGE_PROVIDER_TIMEOUT_S="120")
        try:
            wait_for(lambda: hole.requests, "the first sender's send")
            status = asyncio.run(fetch(url, "SELECT status FROM messages WHERE id = $1",
                                       message))
            assert status[0]["status"] == "sending"
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
    assert texts_to(lab_config, number, since) == []
    second = start_sender(lab_config, url)
    try:
        wait_for(lambda: texts_to(lab_config, number, since), "the text, from the second sender")
        time.sleep(2)  # time enough for a second copy, were there one
    finally:
        stop(second)
    assert len(texts_to(lab_config, number, since)) == 1
    row = asyncio.run(fetch(url, "SELECT status, attempts FROM messages WHERE id = $1", message))
    assert row[0]["status"] in ("sent", "delivered") and row[0]["attempts"] == 1


class BlackHole:
    """A TCP server on loopback that takes connections and requests and
    never answers (a provider that hangs)."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.requests: list[bytes] = []
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            self._held.append(connection)
            data = connection.recv(65536)
            if data:
                self.requests.append(data)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()
        for connection in self._held:
            connection.close()
