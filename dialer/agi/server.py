"""`recobro agi`: a FastAGI server on RECOBRO_AGI_HOST:RECOBRO_AGI_PORT
(loopback by default) answering the hooks of dialer.agi.hooks, one long
process (no Python started per call).

The FastAGI protocol's command side is panoramisk's (fast_agi.Request:
send a command, read Asterisk's result); the request's headers are read
here, not by panoramisk's Application, which dispatches only known paths
(an unknown one would get no answer) and loops forever on a connection
closed before its blank line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

import asyncpg
from panoramisk.fast_agi import Request

from dialer.agi import hooks
from dialer.compliance import gate
from dialer.errors import ConfigError
from dialer.inbound.desk import caller_account, e164
from dialer.inbound.store import Caller
from dialer.outbound import leads
from dialer.outbound.claiming import gate_rules
from dialer.outbound.store import CampaignStore
from dialer.portfolio.model import DoNotCall, DoNotCallReason
from dialer.portfolio.store import add_do_not_call, number_on_do_not_call
from dialer.process import started, stop_requested
from dialer.settings import AgiSettings
from dialer.store.database import open_pool
from dialer.store.outage import CONNECTION_LOST

log = logging.getLogger(__name__)

REQUEST_S = 5.0  # Asterisk sends the headers at once, on connecting
REPLY_S = 5.0  # and answers each command at once
MAX_HEADER_LINES = 200  # Asterisk sends some 25, plus one per argument


class NoCampaign(LookupError):
    """The gate was asked about a campaign that does not exist."""


class Directory(Protocol):
    """What the hooks ask of the store (PostgresDirectory; a fake in tests)."""

    async def caller(self, caller: str) -> Caller | None:
        """The account a caller ID identifies, if one."""

    async def gate(self, number: str, campaign: str, now: datetime) -> gate.Decision:
        """The compliance gate on dialing number (E.164) now in campaign;
        NoCampaign when there is no such campaign."""

    async def opt_out(self, number: str, now: datetime) -> None:
        """Put number (E.164) on the do-not-call list as an opt-out."""


class PostgresDirectory:
    """The hooks' store: accounts, campaigns, leads, the do-not-call list."""

    def __init__(self, pool: asyncpg.Pool, region: str) -> None:
        self.pool = pool
        self.region = region

    def number(self, text: str) -> str | None:
        """text in E.164 (numbers without a country code are the region's)."""
        return e164(text, self.region)

    async def caller(self, caller: str) -> Caller | None:
        return await caller_account(self.pool, caller, self.region)

    async def gate(self, number: str, campaign: str, now: datetime) -> gate.Decision:
        try:
            found = await CampaignStore(self.pool).load(campaign)
        except ConfigError:
            raise NoCampaign(campaign) from None
        async with self.pool.acquire() as connection:
            accounts = await leads.accounts_with_number(connection, found.id, number)
            contexts = await leads.lead_contexts(connection, found.id, accounts, now)
            on_dnc = await number_on_do_not_call(connection, number)
        return gate.decide_for_number(
            number, [(c.facts, gate_rules(found, c.segment)) for c in contexts], on_dnc, now)

    async def opt_out(self, number: str, now: datetime) -> None:
        # The one way onto the list, as `recobro dnc add --reason opt_out` takes it.
        await add_do_not_call(self.pool, DoNotCall(DoNotCallReason.OPT_OUT, number=number), now)


async def read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    """A FastAGI request's `agi_name: value` lines, up to the blank line;
    ConnectionError when the connection ends first, ValueError when no
    blank line comes."""
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES):
        line = await reader.readline()
        if not line.endswith(b"\n"):
            raise ConnectionError("the connection ended before the request did")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            return headers
        name, sep, value = text.partition(": ")
        if sep:
            headers[name] = value
    raise ValueError(f"no blank line after {MAX_HEADER_LINES} lines")


async def answer(request: hooks.HookRequest | hooks.BadRequest, directory: Directory,
                 normalise: Callable[[str], str | None], now: datetime) -> dict[str, str]:
    """The variables that answer a request (a bad one: its problem)."""
    if isinstance(request, hooks.BadRequest):
        return hooks.problem(request)
    if request.hook is hooks.Hook.LOOKUP:
        account = await directory.caller(request.number)
        log.debug("agi lookup %s: %s", request.number, account.reference if account else None)
        if account is None:
            return hooks.unknown()
        return hooks.found(account.reference, account.language, Decimal(account.balance),
                           account.risk_score)
    number = normalise(request.number)
    if number is None:
        return hooks.problem(hooks.not_a_number(request))
    if request.hook is hooks.Hook.GATE:
        try:
            decision = await directory.gate(number, request.campaign, now)
        except NoCampaign:
            return hooks.problem(hooks.no_campaign(request))
        log.debug("agi gate %s in %s: %s", number, request.campaign, decision)
        return hooks.gate_answer(decision)
    await directory.opt_out(number, now)
    log.info("agi optout: a number opted out")
    return hooks.opted_out()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 directory: Directory, normalise: Callable[[str], str | None],
                 clock: Callable[[], datetime]) -> None:
    """One FastAGI connection: read the request, answer it with SET
    VARIABLE commands, close. Nothing a request holds ends the server: a
    bad one is answered with RECOBRO_AGI_ERROR and a warning, a failure of
    the store likewise."""
    try:
        headers = await asyncio.wait_for(read_headers(reader), REQUEST_S)
    except (TimeoutError, ConnectionError, ValueError) as error:
        log.warning("agi: a connection sent no request (%s); closed", error or "timed out")
        writer.close()
        return
    request = hooks.parse_request(headers)
    try:
        variables = await answer(request, directory, normalise, clock())
    # The store's failure is the request's answer, never the server's end.
    except (*CONNECTION_LOST, asyncpg.PostgresError, TimeoutError) as error:
        # The error's class only: a database's message may quote a row.
        hook = request.hook
        name = hook.value if hook else "agi"
        log.warning("agi %s: could not answer: %s", name, type(error).__name__)
        variables = hooks.problem(hooks.BadRequest(
            hook, f"{name}: Recobro could not answer (its store failed); see its log"))
    if variables[hooks.ERROR]:
        log.warning("agi request on channel %s: %s", headers.get("agi_uniqueid", "?"),
                    variables[hooks.ERROR])
    agi = Request(None, headers, reader, writer)
    try:
        for name, value in variables.items():
            result = await asyncio.wait_for(agi.send_command(hooks.set_variable(name, value)),
                                            REPLY_S)
            if result.get("status_code") != 200:
                log.info("agi: Asterisk did not set %s (%s)", name,
                         result.get("msg") or result.get("error") or "no answer")
                break
    except (TimeoutError, ConnectionError) as error:
        log.info("agi: the channel went before its answer was set (%s)", error or "timed out")
    finally:
        writer.close()


async def serve(settings: AgiSettings, region: str, ready: asyncio.Event | None = None) -> None:
    """Answer FastAGI requests until SIGINT or SIGTERM."""
    pool = await open_pool(settings.database_url)
    directory = PostgresDirectory(pool, region)

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handle(reader, writer, directory, directory.number, lambda: datetime.now(UTC))

    try:
        try:
            server = await asyncio.start_server(connected, settings.host, settings.port)
        except OSError as error:
            raise ConfigError(f"cannot listen on {settings.host}:{settings.port} "
                              f"(RECOBRO_AGI_HOST, RECOBRO_AGI_PORT): {error.strerror}") from None
        async with server:
            print(f"recobro agi on agi://{settings.host}:{settings.port}/ "
                  f"({', '.join(h.value for h in hooks.Hook)})", flush=True)
            started()
            stop = stop_requested()
            if ready is not None:
                ready.set()
            await stop.wait()
    finally:
        await pool.close()
