"""The inbound desk: a call from the trunk enters the inbound Stasis
application (asterisk_conf/extensions_recobro.conf) with the caller's
number. The desk answers, identifies the debtor by caller ID or, failing
that, by the account number keyed in, offers low-risk debtors self-service (with a card payment, taken by
dialer.payments, when one can be taken),
and routes the call by the account's language, balance and risk to a
skilled agent, whom it bridges like an outbound call (the agent
connector). With no agent free the caller waits with music, hears their
place in line and may choose a call back. Every prompt is an ivr flow run
by ivr.runner."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from functools import partial

import asyncpg
import phonenumbers

from dialer.agents import routing
from dialer.agents.connector import AgentConnector, BridgeFailed, Handover
from dialer.agents.store import CallKind, Reservation
from dialer.agents.transfers import Service
from dialer.calls.caller_id import Debtor
from dialer.calls.control import CallControl, CallEvents
from dialer.errors import CallControlError
from dialer.inbound import store as inbound_store
from dialer.payments import store as payments_store
from dialer.payments.assisted import AssistedPayments
from dialer.payments.stasis import Payments
from ivr import self_service
from ivr.account_prompt import KeyedAccount
from ivr.callback_prompts import CALLBACK_KEY, Announcement, call_back_booked
from ivr.runner import run_flow

log = logging.getLogger(__name__)

INBOUND_FLOW = "inbound"  # the flow's name in Stasis arguments (with caller=)
# An outbound debtor an agent sent to the inbound queue (a cold transfer),
# its channel moved here by the dialer (with caller=, the number dialed).
QUEUED_FLOW = "queued"
IDENTIFIED_BY_TRANSFER = "transfer"  # inbound_calls.identified_by
KEY_TRIES = 2
AGENT_RING_S = 10.0
# How often a caller waiting in line looks for the call-back key, and for a
# free agent while agents coming free are not heard (dialer.agents.freed):
# seconds of waiting are normal here (an answered debtor polls more often).
QUEUE_POLL_S = 0.25
LONGEST_WAIT_S = 600.0
ANNOUNCE_EVERY_S = 30.0  # place in line and the call-back offer, over the music


def e164(caller: str, region: str) -> str | None:
    """The caller's number in E.164, or None when it is not a number."""
    try:
        parsed = phonenumbers.parse(caller, region)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


async def caller_account(pool: asyncpg.Pool, caller: str, region: str
                         ) -> inbound_store.Caller | None:
    """The account a caller is identified as by caller ID alone: the one
    account with the number among its current phones (None: not a number,
    no such account, or more than one)."""
    number = e164(caller, region)
    return None if number is None else await inbound_store.by_phone(pool, number)


def _debtor(account: inbound_store.Caller | None, caller: str) -> Debtor:
    """Who the agent's phone shows is calling."""
    return Debtor(account.debtor_name if account else "", account.reference if account else "",
                  caller)


class InboundDesk:
    """Takes the calls of an inbound application."""

    def __init__(self, control: CallControl, pool: asyncpg.Pool, connector: AgentConnector,
                 region: str = "US", payments: Payments | None = None) -> None:
        self.control = control
        self.pool = pool
        self.connector = connector
        self.region = region
        self.payments = payments
        self.assisted = AssistedPayments(control, pool, payments)
        self._waiting: list[str] = []  # calls waiting for an agent, first first
        control.register_flow(INBOUND_FLOW, self._run)
        control.register_flow(QUEUED_FLOW, self._queued)

    async def _run(self, call_id: str, events: CallEvents) -> None:
        inbound_id: uuid.UUID | None = None
        try:
            await self.control.answer(call_id)
            record = self.control.record(call_id)
            caller = record.number if record else ""
            account, identified_by = await self._identify(call_id, caller, events)
            if account is not None:
                self.control.speak(call_id, account.language)
            inbound_id = uuid.uuid4()
            await inbound_store.arrived(self.pool, inbound_id, call_id, caller,
                                        account.account_id if account else None, identified_by,
                                        self.control.clock())
            if account is not None and account.risk_score < self_service.LOW_RISK:
                wants = await self._self_service(call_id, inbound_id, account, events)
                if wants != self_service.TO_AGENT:
                    return
            await self._route(call_id, inbound_id, account, _debtor(account, caller), events)
        except CallControlError as error:
            log.info("inbound call %s: %s", call_id, error)
        finally:
            if inbound_id is not None:
                await inbound_store.ended(self.pool, inbound_id, self.control.clock())

    async def _queued(self, call_id: str, events: CallEvents) -> None:
        """An outbound debtor an agent sent to the inbound queue: an
        inbound call identified by the transfer (the account its attempt
        called; the attempt's id is the channel's), straight into the
        waiting line, and whoever takes it from there is its agent. The
        attempt keeps its own result (the dialer's); the conversation is
        recorded already (the dialer's MixMonitor goes on)."""
        inbound_id: uuid.UUID | None = None
        try:
            attempt = uuid.UUID(call_id)
            account = await inbound_store.by_attempt(self.pool, attempt)
            record = self.control.record(call_id)
            caller = record.number if record else ""
            if account is not None:
                self.control.speak(call_id, account.language)
            inbound_id = uuid.uuid4()
            await inbound_store.arrived(self.pool, inbound_id, call_id, caller,
                                        account.account_id if account else None,
                                        IDENTIFIED_BY_TRANSFER, self.control.clock(), attempt)
            await self._route(call_id, inbound_id, account, _debtor(account, caller), events,
                              recorded=True)
        except CallControlError as error:
            log.info("inbound call %s (sent to the queue): %s", call_id, error)
        finally:
            if inbound_id is not None:
                await inbound_store.ended(self.pool, inbound_id, self.control.clock())

    async def _announce(self, call_id: str, position: int, events: CallEvents,
                        free: Callable[[datetime], Awaitable[Reservation | None]]
                        ) -> tuple[bool, Reservation | None]:
        """The caller's place in line and the call-back offer, cut short by
        an agent who comes free meanwhile (free reserves one): a caller
        does not listen to the offer while an agent waits. Whether the
        caller chose a call back, and the agent reserved, if one came."""
        announcement = asyncio.create_task(run_flow(Announcement(position), self.control,
                                                    call_id, events))
        try:
            while not announcement.done():
                mark = self.connector.freed.mark()
                reserved = await free(self.control.clock())
                if reserved is not None:
                    return False, reserved
                await self.connector.freed.wait(mark, [announcement], QUEUE_POLL_S,
                                                ANNOUNCE_EVERY_S)
            return bool(announcement.result()), None
        finally:
            if not announcement.done():
                announcement.cancel()  # its prompt stops (ivr.runner)
                with contextlib.suppress(asyncio.CancelledError):
                    await announcement

    async def _self_service(self, call_id: str, inbound_id: uuid.UUID,
                            account: inbound_store.Caller, events: CallEvents) -> object:
        """The self-service menu until the caller is done or wants an
        agent (what it finished with); a card payment when asked for, then
        the menu again, with the balance as it is after the payment."""
        balance = account.balance
        while True:
            payer = (await payments_store.payer_by_id(self.pool, account.account_id)
                     if self.payments is not None else None)
            if payer is not None:
                balance = payer.balance
            wants = await run_flow(
                self_service.SelfService(balance, payer is not None and payer.payable),
                self.control, call_id, events, self._promise(inbound_id, account))
            if wants != self_service.TO_PAY or payer is None or self.payments is None:
                return wants
            await self.payments.take(call_id, events, payer)
            if events.ended.done():
                return None

    def _promise(self, inbound_id: uuid.UUID, account: inbound_store.Caller):
        async def perform(effect: object) -> None:
            if not isinstance(effect, self_service.RecordPromise):
                raise TypeError(f"unexpected effect {effect!r}")
            await inbound_store.promise(self.pool, inbound_id, account.account_id, effect.days,
                                        self.control.clock())
        return perform

    async def _identify(self, call_id: str, caller: str, events: CallEvents
                        ) -> tuple[inbound_store.Caller | None, str]:
        account = await caller_account(self.pool, caller, self.region)
        if account is not None:
            return account, "caller_id"
        for _ in range(KEY_TRIES):
            keyed = await run_flow(KeyedAccount(), self.control, call_id, events)
            if keyed is None:  # the prompt could not be played, or the call ended
                break
            if keyed:
                account = await inbound_store.by_reference(self.pool, keyed)
                if account is not None:
                    return account, "account_number"
        return None, "none"

    async def _route(self, call_id: str, inbound_id: uuid.UUID,
                     account: inbound_store.Caller | None, debtor: Debtor,
                     events: CallEvents, recorded: bool = False) -> None:
        if account is not None:
            needs = routing.needs_of(account.language, "", Decimal(account.balance),
                                     account.risk_score)
        else:
            needs = routing.language_only(self.control.language_of(call_id))
        shown_as = self.connector.shown_to_agent(debtor)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + LONGEST_WAIT_S
        next_announcement = loop.time()  # at once, if nobody is free
        on_hold = False
        free = partial(self.connector.agents.reserve, inbound_id, needs=needs,
                       kind=CallKind.INBOUND)
        found: Reservation | None = None  # an agent who came free during an announcement
        self._waiting.append(call_id)
        try:
            while not events.ended.done() and loop.time() < give_up:
                mark = self.connector.freed.mark()
                reserved, found = found or await free(self.control.clock()), None
                if reserved is not None:
                    agent = reserved.agent
                    if on_hold:
                        await self.control.hold(call_id, False)
                        on_hold = False
                    try:
                        connected_at = await self.connector.connect(
                            call_id, reserved, loop.time() + AGENT_RING_S, events.ended,
                            shown_as)
                    except BridgeFailed as error:
                        log.warning("inbound %s", error)
                        if not events.ended.done():
                            await self.control.hang_up(call_id, "could not be bridged")
                        return
                    if connected_at is not None:
                        cold = await self.connector.converse(
                            call_id, agent, events,
                            partial(inbound_store.connected, self.pool, inbound_id, agent,
                                    connected_at),
                            partial(self.assisted.while_connected, call_id, str(inbound_id),
                                    debtor.reference, events),
                            Handover(shown_as, partial(inbound_store.hand_over, self.pool,
                                                       inbound_id)), recorded)
                        if cold is None or events.ended.done():
                            return
                        recorded = True  # the MixMonitor goes on to the call's end
                        if cold.to_service == Service.INBOUND_QUEUE.value:
                            # Sent to the queue: back in line for the next agent.
                            next_announcement = loop.time()
                            continue
                        # Sent to self-service (a cold transfer): the menu;
                        # 0 there puts the caller back in line for an agent,
                        # as does a caller nobody identified (no menu).
                        if account is not None and await self._self_service(
                                call_id, inbound_id, account, events) != self_service.TO_AGENT:
                            return
                        next_announcement = loop.time()
                        continue
                    continue
                chose = CALLBACK_KEY in events.keys_pressed()  # pressed over the music
                if not chose and loop.time() >= next_announcement:
                    if on_hold:
                        await self.control.hold(call_id, False)
                        on_hold = False
                    position = self._waiting.index(call_id) + 1
                    chose, found = await self._announce(call_id, position, events, free)
                    next_announcement = loop.time() + ANNOUNCE_EVERY_S
                    if found is not None:
                        continue
                if chose:
                    if on_hold:
                        await self.control.hold(call_id, False)
                    await inbound_store.callback_requested(self.pool, inbound_id,
                                                           self.control.clock())
                    await run_flow(call_back_booked(), self.control, call_id, events)
                    return
                if not on_hold and not events.ended.done():
                    await self.control.hold(call_id, True)
                    on_hold = True
                # The call-back key, pressed over the music, is looked for
                # this often too.
                await self.connector.freed.wait(mark, [events.ended], QUEUE_POLL_S, min(
                    QUEUE_POLL_S, give_up - loop.time(), next_announcement - loop.time()))
        finally:
            self._waiting.remove(call_id)
