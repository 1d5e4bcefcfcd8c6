"""`recobro agi`'s request handling over a real loopback socket: a fake
Asterisk sends a FastAGI request and answers each command as Asterisk
does; a fake directory stands in for PostgreSQL. Bad requests and a
failing store are answered (RECOBRO_AGI_ERROR, a warning), and the server
keeps serving."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from dialer.agi import server
from dialer.agi.server import NoCampaign
from dialer.compliance.gate import Allowed, Refused, Rule
from dialer.inbound.store import Caller
from dialer.portfolio.model import Phone, PhoneKind

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ROSA = Caller(account_id=1, language="es", balance="3000.00", risk_score=0.25,
              reference="IN-ES", debtor_name="Rosa")
NY = Phone("+12125550181", PhoneKind.MOBILE, True, True, "US", ("America/New_York",))


class FakeDirectory:
    """Rosa's account at +12125550181; campaign "early" allows her number,
    "closed" is outside its window until 14:00 UTC."""

    def __init__(self) -> None:
        self.failing = False
        self.opted_out: list[tuple[str, datetime]] = []
        self.gates: list[tuple[str, str, datetime]] = []

    async def caller(self, caller: str) -> Caller | None:
        if self.failing:
            raise ConnectionRefusedError("PostgreSQL is down")
        return ROSA if caller in ("+12125550181", "2125550181") else None

    async def gate(self, number: str, campaign: str, now: datetime):
        self.gates.append((number, campaign, now))
        if campaign == "early":
            return Allowed(NY)
        if campaign == "closed":
            return Refused(Rule.CALLING_WINDOW, "outside", datetime(2026, 12, 3, 14, tzinfo=UTC))
        raise NoCampaign(campaign)

    async def opt_out(self, number: str, now: datetime) -> None:
        self.opted_out.append((number, now))


def normalise(text: str) -> str | None:
    """E.164 for the lab's US numbers; None for anything not ten or eleven digits."""
    digits = text.lstrip("+")
    if not digits.isdigit() or len(digits) not in (10, 11):
        return None
    return "+" + (digits if len(digits) == 11 else "1" + digits)


@pytest.fixture
async def agi():
    """A FastAGI server on an ephemeral loopback port with a FakeDirectory;
    yields (port, directory)."""
    directory = FakeDirectory()

    async def connected(reader, writer):
        await server.handle(reader, writer, directory, normalise, lambda: NOW)

    listening = await asyncio.start_server(connected, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield port, directory


async def call(port: int, script: str, *args: str, caller: str = "+12125550181",
               answer: str = "200 result=1") -> dict[str, str]:
    """What a channel running AGI(agi://127.0.0.1:port/script,args...) is
    set: the variables of each SET VARIABLE command, each answered with
    answer, until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = ["agi_network: yes", f"agi_network_script: {script}", "agi_request: agi://x",
             "agi_channel: PJSIP/recobro-trunk-00000001", f"agi_callerid: {caller}",
             "agi_uniqueid: 1764763200.1", *(f"agi_arg_{i}: {a}" for i, a in
                                             enumerate(args, start=1))]
    writer.write(("\n".join(lines) + "\n\n").encode())
    variables = {}
    while line := await asyncio.wait_for(reader.readline(), 5):
        command, name, value = line.decode().rstrip("\n").split(" ", 3)[1:]
        assert command == "VARIABLE", line
        variables[name] = value.removeprefix('"').removesuffix('"')
        writer.write(f"{answer}\n".encode())
    writer.close()
    return variables


async def test_a_known_caller_is_looked_up_by_caller_id(agi):
    port, _ = agi
    assert await call(port, "lookup") == {
        "RECOBRO_AGI_ERROR": "", "RECOBRO_LOOKUP": "found", "RECOBRO_ACCOUNT": "IN-ES",
        "RECOBRO_LANGUAGE": "es", "RECOBRO_BALANCE_TIER": "mid", "RECOBRO_RISK": "0.25"}


async def test_an_unknown_caller_and_a_number_given_as_argument(agi):
    port, _ = agi
    assert (await call(port, "lookup", caller="+15005550199"))["RECOBRO_LOOKUP"] == "unknown"
    assert (await call(port, "lookup", "2125550181", caller="+15005550199"))[
        "RECOBRO_ACCOUNT"] == "IN-ES"


async def test_the_gate_is_asked_with_the_number_in_e164_and_the_campaign(agi):
    port, directory = agi
    assert await call(port, "gate", "2125550181", "closed") == {
        "RECOBRO_AGI_ERROR": "", "RECOBRO_GATE": "refused",
        "RECOBRO_GATE_RULE": "calling_window", "RECOBRO_GATE_UNTIL": "2026-12-03T14:00:00Z"}
    assert (await call(port, "gate", "+12125550181", "early"))["RECOBRO_GATE"] == "allowed"
    assert directory.gates == [("+12125550181", "closed", NOW), ("+12125550181", "early", NOW)]


async def test_an_opt_out_is_recorded_for_the_callers_number(agi):
    port, directory = agi
    assert await call(port, "optout") == {"RECOBRO_AGI_ERROR": "", "RECOBRO_OPTOUT": "done"}
    assert directory.opted_out == [("+12125550181", NOW)]


async def test_bad_requests_are_answered_with_the_problem_and_a_warning(agi, caplog):
    port, directory = agi
    with caplog.at_level(logging.WARNING, logger="dialer.agi.server"):
        unknown_hook = await call(port, "payme")
        missing = await call(port, "gate", "+12125550181")
        no_campaign = await call(port, "gate", "+12125550181", "nope")
        not_a_number = await call(port, "optout", "12")
    assert unknown_hook == {"RECOBRO_AGI_ERROR": "no such hook: agi://HOST:PORT/ then one of "
                                                 "lookup, gate, optout"}
    assert missing["RECOBRO_AGI_ERROR"] == "gate: argument 2, the campaign's name, is missing"
    assert missing["RECOBRO_GATE"] == ""
    assert no_campaign["RECOBRO_AGI_ERROR"] == "gate: argument 2: no campaign named 'nope'"
    assert not_a_number == {"RECOBRO_AGI_ERROR": "optout: argument 1 or the caller ID is not "
                                                 "a phone number", "RECOBRO_OPTOUT": ""}
    assert directory.opted_out == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 4 and all("1764763200.1" in w for w in warnings), warnings
    # And the server still answers.
    assert (await call(port, "lookup"))["RECOBRO_LOOKUP"] == "found"


async def test_a_failing_store_is_answered_not_raised(agi, caplog):
    port, directory = agi
    directory.failing = True
    with caplog.at_level(logging.WARNING, logger="dialer.agi.server"):
        answered = await call(port, "lookup")
    assert answered == {
        "RECOBRO_AGI_ERROR": "lookup: Recobro could not answer (its store failed); see its log",
        "RECOBRO_LOOKUP": "", "RECOBRO_ACCOUNT": "", "RECOBRO_LANGUAGE": "",
        "RECOBRO_BALANCE_TIER": "", "RECOBRO_RISK": ""}
    assert any("ConnectionRefusedError" in r.getMessage() for r in caplog.records)


async def test_a_hung_up_channel_ends_the_answer_quietly(agi):
    port, _ = agi
    # Asterisk answers HANGUP once the channel is gone: one command, then the end.
    assert list(await call(port, "lookup", answer="HANGUP")) == ["RECOBRO_AGI_ERROR"]
    assert (await call(port, "lookup"))["RECOBRO_LOOKUP"] == "found"


async def test_a_connection_closed_before_its_request_ends_is_dropped(agi, caplog):
    port, _ = agi
    with caplog.at_level(logging.WARNING, logger="dialer.agi.server"):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"agi_network: yes\nagi_network_script: lookup\n")  # no blank line
        writer.close()
        assert (await call(port, "lookup"))["RECOBRO_LOOKUP"] == "found"
    assert any("sent no request" in r.getMessage() for r in caplog.records)
