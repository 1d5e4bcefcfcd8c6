"""The inbound desk: a call from the trunk enters the inbound Stasis
application (asterisk_conf/extensions_recobro.conf) with the caller's
number. The desk answers, identifies the debtor by caller ID or, failing
that, by the account number keyed in, and routes the call by the account's
language, balance and risk to a skilled agent, whom it bridges like an
outbound call (dialer.campaign.connect). With no agent free the caller
waits with music, hears their place in line and may choose a call back."""

from __future__ import annotations

import asyncio
import logging
import uuid
from decimal import Decimal

import asyncpg
import phonenumbers

from dialer.agents import routing
from dialer.agents.caller_id import Debtor
from dialer.calls.events import (
    CallEvent,
    DtmfReceived,
    PlaybackFailed,
    PlaybackFinished,
)
from dialer.campaign.connect import (
    AgentConnector,
    BridgeFailed,
    next_event,
    until_ended,
)
from dialer.engine import INBOUND_FLOW, Engine
from dialer.errors import AriError
from dialer.store import inbound as inbound_store
from dialer.store.calls import storage_id
from ivr import account_prompt, callback_prompts, self_service

log = logging.getLogger(__name__)

KEY_TRIES = 2
KEY_TIMEOUT_S = 8.0  # for the whole number, after the prompt starts
AGENT_RING_S = 10.0
RESERVE_POLL_S = 0.25
LONGEST_WAIT_S = 600.0
ANNOUNCE_EVERY_S = 30.0  # place in line and the call-back offer, over the music
PROMPT_LONGEST_S = 15.0


class PromptFailed(Exception):
    """Asterisk could not play a prompt: the caller heard nothing of it."""


def _pressed(events: asyncio.Queue[CallEvent], key: str) -> bool:
    """Whether key was pressed since last looked (other events dropped:
    nothing is playing while the caller is on hold)."""
    pressed = False
    while not events.empty():
        event = events.get_nowait()
        pressed = pressed or (isinstance(event, DtmfReceived) and event.digit == key)
    return pressed


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
        self._waiting: list[str] = []  # calls waiting for an agent, first first
        engine.register_flow(INBOUND_FLOW, self._run)

    async def _run(self, call_id: str, inbox: asyncio.Queue[CallEvent | None]) -> None:
        events: asyncio.Queue[CallEvent] = asyncio.Queue()
        ended = asyncio.ensure_future(until_ended(inbox, events))
        try:
            await self.engine.ari.answer(call_id)
            record = self.engine.record(call_id)
            caller = record.number if record else ""
            account, identified_by = await self._identify(call_id, caller, events, ended)
            if account is not None:
                self.engine.speak(call_id, account.language)
            inbound_id = uuid.uuid4()
            await inbound_store.arrived(self.pool, inbound_id, storage_id(call_id), caller,
                                        account.account_id if account else None, identified_by,
                                        self.engine.clock())
            low_risk = account is not None and account.risk_score < self_service.LOW_RISK
            if low_risk and not await self._self_service(call_id, inbound_id, account, events,
                                                         ended):
                return
            await self._route(call_id, inbound_id, account, Debtor(
                account.debtor_name if account else "", account.reference if account else "",
                caller), events, ended)
            await inbound_store.ended(self.pool, inbound_id, self.engine.clock())
        except AriError as error:
            log.info("inbound call %s: %s", call_id, error)
        finally:
            ended.cancel()

    async def _self_service(self, call_id: str, inbound_id: uuid.UUID,
                            account: inbound_store.Caller, events: asyncio.Queue[CallEvent],
                            ended: asyncio.Future[None]) -> bool:
        """Run the self-service menu; whether the caller then wants an agent."""
        menu, actions = self_service.start()
        try:
            return await self._menu(call_id, inbound_id, account, events, ended, menu, actions)
        except PromptFailed as error:
            log.warning("inbound call %s: self-service menu unheard (%s); to an agent",
                        call_id, error)
            return True

    async def _menu(self, call_id: str, inbound_id: uuid.UUID, account: inbound_store.Caller,
                    events: asyncio.Queue[CallEvent], ended: asyncio.Future[None],
                    menu: self_service.Menu, actions: list[self_service.Action]) -> bool:
        """Perform the menu's actions, feed it the keys, until it ends."""
        while not ended.done():
            key = None
            for action in actions:
                if isinstance(action, self_service.Play):
                    key = key or await self._play_media(call_id, f"sound:{action.sound}",
                                                        events, ended)
                elif isinstance(action, self_service.SayAmount):
                    whole = action.amount.split(".")[0]
                    key = key or await self._play_media(call_id, f"number:{whole}", events,
                                                        ended)
                elif isinstance(action, self_service.RecordPromise):
                    await inbound_store.promise(self.pool, inbound_id, account.account_id,
                                                action.days, self.engine.clock())
                elif isinstance(action, self_service.ListenForKey):
                    key = key or await self._next_key(events, ended, KEY_TIMEOUT_S)
                elif isinstance(action, self_service.ToAgent):
                    return True
                elif isinstance(action, self_service.Hangup):
                    if not ended.done():
                        await self.engine.hang_up(call_id, "self-service finished")
                    return False
            menu, actions = (self_service.on_key(menu, key, account.balance) if key
                             else self_service.on_silence(menu))
        return False

    async def _play_media(self, call_id: str, media: str, events: asyncio.Queue[CallEvent],
                          ended: asyncio.Future[None]) -> str | None:
        """Play media to its end; the first key pressed meanwhile, if any
        (the rest of the media is then skipped). PromptFailed when Asterisk
        could not play it."""
        loop = asyncio.get_running_loop()
        playback = await self.engine.ari.play_media(call_id, media,
                                                    self.engine.language_of(call_id))
        deadline = loop.time() + PROMPT_LONGEST_S
        while (event := await next_event(events, ended, deadline)) is not None:
            if isinstance(event, DtmfReceived):
                await self.engine.ari.stop_playback(playback)
                return event.digit
            if (isinstance(event, PlaybackFailed) and event.playback_id == playback
                    and not event.hung_up):
                raise PromptFailed(event.reason)
            if (isinstance(event, PlaybackFinished | PlaybackFailed)
                    and event.playback_id == playback):
                return None
        return None

    async def _next_key(self, events: asyncio.Queue[CallEvent], ended: asyncio.Future[None],
                        timeout_s: float) -> str | None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while (event := await next_event(events, ended, deadline)) is not None:
            if isinstance(event, DtmfReceived):
                return event.digit
        return None

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
            try:
                keyed = await self._keyed_number(events, ended)
            except PromptFailed as error:
                log.warning("inbound call %s: account prompt unheard (%s); to an agent "
                            "unidentified", call_id, error)
                break
            if keyed:
                account = await inbound_store.by_reference(self.pool, keyed)
                if account is not None:
                    return account, "account_number"
        return None, "none"

    async def _keyed_number(self, events: asyncio.Queue[CallEvent],
                            ended: asyncio.Future[None]) -> str:
        """Digits keyed until the end key (or the time is up); PromptFailed
        when the prompt asking for them could not be played."""
        deadline = asyncio.get_running_loop().time() + KEY_TIMEOUT_S
        digits = ""
        while (event := await next_event(events, ended, deadline)) is not None:
            if isinstance(event, PlaybackFailed) and not event.hung_up and not digits:
                raise PromptFailed(event.reason)
            if isinstance(event, DtmfReceived):
                if event.digit == account_prompt.END_KEY:
                    break
                digits += event.digit
        return digits

    async def _route(self, call_id: str, inbound_id: uuid.UUID,
                     account: inbound_store.Caller | None, debtor: Debtor,
                     events: asyncio.Queue[CallEvent], ended: asyncio.Future[None]) -> None:
        if account is not None:
            needs = routing.needs_of(account.language, "", Decimal(account.balance),
                                     account.risk_score)
        else:
            needs = routing.language_only(self.engine.language_of(call_id))
        shown_as = self.connector.shown_to_agent(debtor)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + LONGEST_WAIT_S
        next_announcement = loop.time()  # at once, if nobody is free
        on_hold = False
        self._waiting.append(call_id)
        try:
            while not ended.done() and loop.time() < give_up:
                agent = await self.connector.agents.reserve(inbound_id, self.engine.clock(),
                                                            needs)
                if agent is not None:
                    if on_hold:
                        await self.engine.ari.hold(call_id, False)
                        on_hold = False
                    try:
                        connected_at = await self.connector.connect(
                            call_id, agent, loop.time() + AGENT_RING_S, ended, shown_as)
                    except BridgeFailed as error:
                        log.warning("inbound %s", error)
                        if not ended.done():
                            await self.engine.hang_up(call_id, "could not be bridged")
                        return
                    if connected_at is not None:
                        await inbound_store.connected(self.pool, inbound_id, agent, connected_at)
                        await ended
                        await self.connector.tear_down(call_id, agent)
                        return
                    continue
                chose = _pressed(events, callback_prompts.CALLBACK_KEY)
                if not chose and loop.time() >= next_announcement:
                    chose = await self._announce(call_id, events, ended, on_hold)
                    on_hold = False  # the announcement stopped the music
                    next_announcement = loop.time() + ANNOUNCE_EVERY_S
                if chose:
                    if on_hold:
                        await self.engine.ari.hold(call_id, False)
                    await self._call_back(call_id, inbound_id, events, ended)
                    return
                if not on_hold and not ended.done():
                    await self.engine.ari.hold(call_id, True)
                    on_hold = True
                await asyncio.wait([ended], timeout=RESERVE_POLL_S)
        finally:
            self._waiting.remove(call_id)

    async def _announce(self, call_id: str, events: asyncio.Queue[CallEvent],
                        ended: asyncio.Future[None], on_hold: bool) -> bool:
        """Tell the caller their place in line and offer a call back;
        whether they chose it."""
        if on_hold:
            await self.engine.ari.hold(call_id, False)
        position = self._waiting.index(call_id) + 1
        for media in (*callback_prompts.place_in_line(position),
                      f"sound:{callback_prompts.OFFER}"):
            try:
                key = await self._play_media(call_id, media, events, ended)
            except PromptFailed as error:
                log.warning("inbound call %s: %s", call_id, error)
                continue
            if key == callback_prompts.CALLBACK_KEY:
                return True
        return False

    async def _call_back(self, call_id: str, inbound_id: uuid.UUID,
                         events: asyncio.Queue[CallEvent], ended: asyncio.Future[None]) -> None:
        await inbound_store.callback_requested(self.pool, inbound_id, self.engine.clock())
        try:
            await self._play_media(call_id, f"sound:{callback_prompts.BOOKED}", events, ended)
        except PromptFailed as error:
            log.warning("inbound call %s: %s", call_id, error)
        if not ended.done():
            await self.engine.hang_up(call_id, "the caller chose a call back")

