"""Agent-assisted payments: an agent on a call hands the debtor to the
payment capture (from the API: a PaymentRequested among the call's
events), stays on the line and may keep talking, but hears no key the
debtor presses.

For the capture the debtor's channel is put back in the agent's bridge
with its keys absorbed (ARI addChannel's absorbDTMF: Recobro still hears
them as ChannelDtmfReceived on the debtor's channel, nobody in the bridge
gets them); each key plays a flat masking tone to the agent's leg alone;
the prompts play to the debtor's channel, which leaves the mix while one
plays (the agent hears neither the prompt nor the debtor then, and the
debtor does not hear the agent). The recording is muted for the capture
and resumed (dialer.payments.stasis). The agent's desktop is told the
capture's progress (payment_ivr.progress: never a digit). Afterwards the
debtor is back in the bridge as before, keys passed on, both still
connected."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import asyncpg

from dialer.agents.store import AgentStore
from dialer.calls.control import CallControl, CallEvents
from dialer.calls.events import (
    CallEvent,
    DtmfReceived,
    PaymentRequested,
    TransferRequested,
)
from dialer.errors import CallControlError, ChannelGone
from dialer.payments import store
from dialer.payments.stasis import Payments
from dialer.store.outage import CONNECTION_LOST
from payment_ivr.progress import Progress, outcome

log = logging.getLogger(__name__)

# What the agent hears for each key: one flat tone (no DTMF pair, and the
# same for every key), played on the agent's leg and stopped after MASK_S.
MASK_TONE = "tone:1000/1000"
MASK_S = 0.2
PAYMENT_EVENT = "payment"  # the "type" of the events on the agent's desktop


def progress_event(call_id: str, attempt: str, told: Progress) -> dict[str, object]:
    """The agent's desktop event for one line of a capture's progress."""
    event: dict[str, object] = {"type": PAYMENT_EVENT, "call": call_id, "attempt": attempt,
                                "step": told.step, "status": told.status, "text": told.text}
    for name in ("brand", "last4", "reference", "reason"):
        if getattr(told, name):
            event[name] = getattr(told, name)
    return event


class _Mask:
    """Masking tones on one agent's leg, one at a time."""

    def __init__(self, control: CallControl, leg: str) -> None:
        self.control = control
        self.leg = leg
        self._one_at_a_time = asyncio.Lock()

    async def tone(self) -> None:
        async with self._one_at_a_time:
            try:
                playback = await self.control.play(self.leg, MASK_TONE, "en")
                await asyncio.sleep(MASK_S)
                await self.control.stop_playback(playback)
            except CallControlError as error:
                log.info("agent leg %s: masking tone not played: %s", self.leg, error)


class AssistedPayments:
    """Takes the payments agents ask for on the calls they are connected to."""

    def __init__(self, control: CallControl, pool: asyncpg.Pool,
                 payments: Payments | None) -> None:
        self.control = control
        self.pool = pool
        self.payments = payments
        self.agents = AgentStore(pool)
        self._masks: dict[str, _Mask] = {}  # debtor's call id -> its agent's masking
        self._tasks: set[asyncio.Task[None]] = set()
        control.add_listener(self._hear)

    def _hear(self, event: CallEvent) -> None:
        mask = self._masks.get(event.call_id)
        if mask is not None and isinstance(event, DtmfReceived):
            self._spawn(mask.tone())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def while_connected(self, call_id: str, attempt: str, reference: str,
                              events: CallEvents, agent: str, leg: str,
                              bridge: str) -> TransferRequested | None:
        """Until the call (in bridge with agent's leg) ends (None), or its
        agent asks for a transfer (the request, returned: the agent
        connector makes it): each payment its agent asks for is taken from
        the debtor of account reference ("" when unknown); attempt is the
        id the agent knows the call by. Keys pressed meanwhile, talking to
        the agent, are nobody's."""
        while (event := await events.next()) is not None:
            if isinstance(event, PaymentRequested):
                await self._take(call_id, agent, leg, bridge, attempt, reference, events)
            elif isinstance(event, TransferRequested):
                return event
        return None

    async def _take(self, call_id: str, agent: str, leg: str, bridge: str, attempt: str,
                    reference: str, events: CallEvents) -> None:
        told: list[Progress] = []
        desk: asyncio.Queue[Progress | None] = asyncio.Queue()
        sender = asyncio.get_running_loop().create_task(
            self._tell(agent, call_id, attempt, desk))

        def report(line: Progress) -> None:
            told.append(line)
            desk.put_nowait(line)

        try:
            payer = await store.payer_by_reference(self.pool, reference) if reference else None
            refused = self._refusal(payer, self.payments is not None)
            if refused is not None:
                log.info("call %s: no payment taken for agent %s: %s", call_id, agent,
                         refused.status)
                report(refused)
                return
            assert payer is not None and self.payments is not None
            report(Progress("capture", "started: the debtor hears the payment prompts"))
            try:
                await self.control.join_bridge(bridge, call_id, absorb_dtmf=True)
            except CallControlError as error:
                # Never a capture whose keys would reach the agent.
                if not isinstance(error, ChannelGone):
                    log.warning("call %s: keys not absorbed in the bridge (%s): no capture",
                                call_id, error)
                report(Progress("capture", "not started: the call could not be set up for it"))
                return
            self._masks[call_id] = _Mask(self.control, leg)
            try:
                result = await self.payments.take(call_id, events, payer, report=report)
            finally:
                self._masks.pop(call_id, None)
                await self._unabsorb(call_id, bridge, events)
            if not told or told[-1] != outcome(result):
                report(outcome(result))
        except CONNECTION_LOST as error:
            log.warning("call %s: the payment agent %s asked for was not taken: PostgreSQL "
                        "is lost (%s)", call_id, agent, error)
        finally:
            desk.put_nowait(None)
            await sender

    @staticmethod
    def _refusal(payer: store.Payer | None, gateway: bool) -> Progress | None:
        """Why no capture can start, if it cannot."""
        if not gateway:
            return Progress("capture", "not available: no card gateway is set "
                                       "(RECOBRO_PAYMENT_GATEWAY_URL)")
        if payer is None:
            return Progress("capture", "not available: the call has no known account")
        if not payer.payable:
            return Progress("capture", f"not available: the account is {payer.status} "
                                       f"with {payer.balance} {payer.currency.strip()} owed")
        return None

    async def _unabsorb(self, call_id: str, bridge: str, events: CallEvents) -> None:
        """The debtor back in the bridge as before the capture: keys passed on."""
        if events.ended.done():
            return
        try:
            await self.control.join_bridge(bridge, call_id, absorb_dtmf=False)
        except ChannelGone:
            pass
        except CallControlError as error:
            log.warning("call %s: the debtor's keys stay absorbed in the bridge: %s", call_id,
                        error)

    async def _tell(self, agent: str, call_id: str, attempt: str,
                    desk: asyncio.Queue[Progress | None]) -> None:
        """Send the capture's progress to the agent's desktop, in order."""
        while (line := await desk.get()) is not None:
            try:
                await self.agents.tell(agent, progress_event(call_id, attempt, line))
            except CONNECTION_LOST as error:
                log.warning("agent %s not told a payment's progress: %s", agent, error)

