"""Where an agentless ("press to pay") campaign's answered live calls go
(Campaign.answered_to SELF_SERVICE), instead of to an agent. The one who
answered first proves to be the debtor by keying the called account's
reference (ivr.account_prompt.KeyedAccount, ivr.press_to_pay.proves):
anyone else hears nothing of the debt (FDCPA third-party disclosure),
only a request to call back, and the call ends. The debtor then has the
self-service menu (ivr.self_service: 1 the balance, 2 a promise, 3 a card
payment when a gateway is configured, 0 an agent): 3 hands the call to
dialer.payments (Payments.take, with the campaign's payment terms); a
payment made (or a promise) ends the call with thanks, anything else
brings the menu back. 0 is the campaign flow's to answer
(dialer.outbound.stasis: an agent within 2 s, else no_agent's polite
end). What the call came to is a Connection: self_service, verified or
not, so it is never an abandoned call."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import asyncpg

from dialer.calls.caller_id import Debtor
from dialer.calls.control import CallControl, CallEvents
from dialer.calls.outcome import Connection
from dialer.payments import store as payments_store
from dialer.payments.stasis import Payments, concluded
from dialer.payments.store import Payer
from ivr import press_to_pay, self_service
from ivr.account_prompt import KeyedAccount
from ivr.runner import run_flow

log = logging.getLogger(__name__)

UNVERIFIED = Connection(self_service=True)
VERIFIED = Connection(self_service=True, verified=True)


@dataclass(frozen=True)
class Served:
    """What the self-service route did with an answered call, and whether
    the debtor asked for an agent (the call still up)."""

    connection: Connection
    wants_agent: bool = False


class SelfServiceRoute:
    """The self-service route of one campaign's answered calls."""

    def __init__(self, control: CallControl, pool: asyncpg.Pool, campaign: str,
                 callback_number: str, payments: Payments | None) -> None:
        self.control = control
        self.pool = pool
        self.campaign = campaign
        self.callback_number = callback_number
        self.payments = payments  # None: no card gateway, no pay key

    async def serve(self, call_id: str, events: CallEvents, debtor: Debtor | None) -> Served:
        """Check the party, then serve the debtor until they are done or
        ask for an agent. debtor: whom the call was placed to (None for a
        call adopted from a dead dialer: nobody can be checked, and the
        call ends)."""
        if debtor is None or not await self._proves(call_id, events, debtor.reference):
            if not events.ended.done():
                await run_flow(press_to_pay.not_verified(self.callback_number), self.control,
                               call_id, events)
            return Served(UNVERIFIED)
        payer = await payments_store.payer_by_reference(self.pool, debtor.reference)
        if payer is None:  # the account went away since the call was placed
            log.warning("call %s: account %r is gone; self-service ended", call_id,
                        debtor.reference)
            await self._end(call_id, events)
            return Served(VERIFIED)
        wants = await self._menu(call_id, events, payer)
        return Served(VERIFIED, wants_agent=wants == self_service.TO_AGENT
                      and not events.ended.done())

    async def after_agent(self, call_id: str, events: CallEvents,
                          debtor: Debtor | None) -> None:
        """An agent sent the debtor here (a cold transfer): the party is
        known (the agent spoke with them), so the menu at once, until the
        debtor is done; asking for an agent again (0) gets no_agent's polite
        end (the agent who sent them here just left)."""
        payer = (await payments_store.payer_by_reference(self.pool, debtor.reference)
                 if debtor is not None else None)
        if payer is None:
            log.warning("call %s: sent to self-service with no known account; ended",
                        call_id)
            await self._end(call_id, events)
            return
        if await self._menu(call_id, events, payer) == self_service.TO_AGENT:
            await self.no_agent(call_id, events)

    async def no_agent(self, call_id: str, events: CallEvents) -> None:
        """The debtor asked for an agent and none was free: say so, with
        the number to call back, and end the call."""
        if not events.ended.done():
            await run_flow(press_to_pay.no_agent(self.callback_number), self.control, call_id,
                           events)

    async def _proves(self, call_id: str, events: CallEvents, reference: str) -> bool:
        for _ in range(press_to_pay.KEY_TRIES):
            keyed = await run_flow(KeyedAccount(), self.control, call_id, events)
            if keyed is None:  # the prompt could not be played, or the call ended
                return False
            if press_to_pay.proves(keyed, reference):
                return True
        return False

    async def _menu(self, call_id: str, events: CallEvents, payer: Payer) -> object:
        """The menu until the debtor is done (what it finished with); a
        card payment when asked for, then the menu again with the balance
        as it is after it, unless the payment (or a promise) was made."""
        while True:
            can_pay = self.payments is not None and payer.payable
            wants = await run_flow(self_service.SelfService(payer.balance, can_pay),
                                   self.control, call_id, events,
                                   self._promise(uuid.UUID(call_id), payer.account_id))
            if wants != self_service.TO_PAY or self.payments is None:
                return wants
            result = await self.payments.take(call_id, events, payer, self.campaign)
            if events.ended.done():
                return None
            if concluded(result):
                await self._end(call_id, events)
                return None
            payer = await payments_store.payer_by_id(self.pool, payer.account_id) or payer

    async def _end(self, call_id: str, events: CallEvents) -> None:
        if not events.ended.done():
            await self.control.hang_up(call_id, self_service.FINISHED)

    def _promise(self, attempt_id: uuid.UUID, account_id: int):
        async def perform(effect: object) -> None:
            if not isinstance(effect, self_service.RecordPromise):
                raise TypeError(f"unexpected effect {effect!r}")
            await self.pool.execute(
                "INSERT INTO promises (account_id, attempt_id, amount, due_by, source, at) "
                "SELECT id, $2, balance, ($4::timestamptz + make_interval(days => $3))::date, "
                "'ivr', $4 FROM accounts WHERE id = $1", account_id, attempt_id, effect.days,
                self.control.clock())
        return perform
