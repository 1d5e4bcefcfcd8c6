"""The inbound desk: a call from the trunk enters the inbound Stasis
application (asterisk_conf/extensions_recobro.conf) with the caller's
number. The desk answers, identifies the debtor by caller ID or, failing
that, by the account number keyed in, and routes the call by the account's
language, balance and risk to a skilled agent, whom it bridges like an
outbound call (dialer.campaign.connect)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from decimal import Decimal

import asyncpg
import phonenumbers

from dialer.agents import routing
from dialer.calls.events import CallEvent, DtmfReceived
from dialer.campaign.connect import AgentConnector, until_ended
from dialer.engine import INBOUND_FLOW, Engine
from dialer.errors import AriError
from dialer.store import inbound as inbound_store
from dialer.store.calls import storage_id
from ivr import account_prompt

log = logging.getLogger(__name__)

KEY_TRIES = 2
KEY_TIMEOUT_S = 8.0  # for the whole number, after the prompt starts
AGENT_RING_S = 10.0
RESERVE_POLL_S = 0.25
LONGEST_WAIT_S = 600.0


def e164(caller: str, region: str) -> str | None:
    """The caller's number in E.164, or None when it is not a number."""
    try:
        parsed = phonenumbers.parse(caller, region)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class InboundDesk:
    """Takes the calls of an engine's inbound application."""

    def __init__(self, engine: Engine, pool: asyncpg.Pool, connector: AgentConnector,
                 region: str = "US") -> None:
        self.engine = engine
        self.pool = pool
        self.connector = connector
        self.region = region
        engine.register_flow(INBOUND_FLOW, self._run)

    async def _run(self, call_id: str, inbox: asyncio.Queue[CallEvent | None]) -> None:
        events: asyncio.Queue[CallEvent] = asyncio.Queue()
        ended = asyncio.ensure_future(until_ended(inbox, events))
        try:
            await self.engine.ari.answer(call_id)
            record = self.engine.record(call_id)
            caller = record.number if record else ""
            account, identified_by = await self._identify(call_id, caller, events, ended)
            inbound_id = uuid.uuid4()
            await inbound_store.arrived(self.pool, inbound_id, storage_id(call_id), caller,
                                        account.account_id if account else None, identified_by,
                                        self.engine.clock())
            await self._route(call_id, inbound_id, account, ended)
            await inbound_store.ended(self.pool, inbound_id, self.engine.clock())
        except AriError as error:
            log.info("inbound call %s: %s", call_id, error)
        finally:
            ended.cancel()

    async def _identify(self, call_id: str, caller: str, events: asyncio.Queue[CallEvent],
                        ended: asyncio.Future[None]
                        ) -> tuple[inbound_store.Caller | None, str]:
        number = e164(caller, self.region)
        if number is not None:
            account = await inbound_store.by_phone(self.pool, number)
            if account is not None:
                return account, "caller_id"
        for _ in range(KEY_TRIES):
            if ended.done():
                break
            await self.engine.ari.play(call_id, account_prompt.SOUND,
                                       self.engine.language_of(call_id))
            keyed = await self._keyed_number(events, ended)
            if keyed:
                account = await inbound_store.by_reference(self.pool, keyed)
                if account is not None:
                    return account, "account_number"
        return None, "none"

    async def _keyed_number(self, events: asyncio.Queue[CallEvent],
                            ended: asyncio.Future[None]) -> str:
        """Digits keyed until the end key (or the time is up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + KEY_TIMEOUT_S
        digits = ""
        while not ended.done() and loop.time() < deadline:
            next_event = asyncio.ensure_future(events.get())
            await asyncio.wait([next_event, ended], timeout=deadline - loop.time(),
                               return_when=asyncio.FIRST_COMPLETED)
            if not next_event.done():
                next_event.cancel()
                break
            event = next_event.result()
            if isinstance(event, DtmfReceived):
                if event.digit == account_prompt.END_KEY:
                    break
                digits += event.digit
        return digits

    async def _route(self, call_id: str, inbound_id: uuid.UUID,
                     account: inbound_store.Caller | None, ended: asyncio.Future[None]) -> None:
        if account is not None:
            needs = routing.needs_of(account.language, "", Decimal(account.balance),
                                     account.risk_score)
        else:
            needs = routing.CallNeeds(
                required={f"language:{self.engine.language_of(call_id)}": 1})
        loop = asyncio.get_running_loop()
        give_up = loop.time() + LONGEST_WAIT_S
        while not ended.done() and loop.time() < give_up:
            agent = await self.connector.agents.reserve(inbound_id, self.engine.clock(), needs)
            if agent is None:
                await asyncio.wait([ended], timeout=RESERVE_POLL_S)
                continue
            connected_at = await self.connector.connect(call_id, agent,
                                                        loop.time() + AGENT_RING_S, ended)
            if connected_at is not None:
                await inbound_store.connected(self.pool, inbound_id, agent, connected_at)
                await ended
                await self.connector.tear_down(call_id, agent)
                return
