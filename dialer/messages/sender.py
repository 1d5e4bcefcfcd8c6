"""The message sender (`recobro messages run`): takes what happened into the
outbox (dialer.messages.intake), claims due messages (SKIP LOCKED: several
senders may run), asks the rules (may_send) with the account read fresh,
composes each as its preview would be, hands it to its channel and writes
what came of it. One message per trigger, channel and key however the
sender or the provider fails: the outbox row is the message, a dead
sender's claimed rows go back to pending, a failed try backs off, the last
is dead-lettered (`recobro messages dead`, `... replay`)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

import asyncpg

from dialer.errors import ConfigError
from dialer.messages.channels import MessageChannel, Outgoing, SendFailed
from dialer.messages.composing import compose_for
from dialer.messages.intake import take_in
from dialer.messages.model import Channel, Trigger
from dialer.messages.rules import Allowed, Caps, may_send
from dialer.messages.store import (
    OutboxMessage,
    TemplateVersion,
    claim_due,
    hold_sender_lock,
    mark_failed,
    mark_refused,
    mark_sent,
    message_account,
    message_facts,
    release_orphans,
)
from dialer.messages.templates import OPT_OUT_CONFIRMED, TemplateKey, TemplateRefused
from dialer.messages.triggers import TriggerEvent, event_values
from dialer.settings import PaymentLinkSettings

log = logging.getLogger(__name__)

# One account's messages are decided and sent one at a time, across
# senders: the caps count what was sent, so two at once could both pass.
_ACCOUNT_LOCK = "SELECT pg_advisory_lock(hashtext('recobro.message-account'), $1::int)"
_ACCOUNT_UNLOCK = "SELECT pg_advisory_unlock(hashtext('recobro.message-account'), $1::int)"


class Outcome(Enum):
    SENT = "sent"
    DEFERRED = "deferred"  # a rule holds until later (quiet hours, a cap)
    REFUSED = "refused"  # a rule holds for good (opted out, paid, no recipient)
    RETRY = "retry"  # the channel failed; tried again after the backoff
    DEAD = "dead"  # dead-lettered
    LOST = "lost"  # this sender no longer held it


@dataclass
class Tally:
    """What a sender did, by outcome."""

    counts: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome] += 1

    def __str__(self) -> str:
        return ", ".join(f"{n} {o.value}" for o, n in self.counts.items() if n) or "nothing"


@dataclass(frozen=True)
class CampaignRules:
    window_profile: str
    caps: Caps


# An opt-out's confirmation from no campaign: no cap counts it, and quiet
# hours do not hold it (dialer.messages.rules).
CONFIRMATION_RULES = CampaignRules("local", Caps())


async def _campaign_rules(connection: asyncpg.Connection, campaign_id: int) -> CampaignRules:
    row = await connection.fetchrow("SELECT window_profile, messages_per_day, "
                                    "messages_per_week FROM campaigns WHERE id = $1", campaign_id)
    return CampaignRules(row["window_profile"],
                         Caps(row["messages_per_day"], row["messages_per_week"]))


def _values(message: OutboxMessage, language: str) -> dict[str, str]:
    event = TriggerEvent.from_json(message.trigger, message.event)
    return {} if event is None else event_values(event, language)


class Sender:
    """One sender process's work; run() until stop is set."""

    def __init__(self, pool: asyncpg.Pool, channels: Mapping[Channel, MessageChannel],
                 links: PaymentLinkSettings, clock: Callable[[], datetime], *,
                 batch: int = 200, concurrency: int = 16) -> None:
        self.id = uuid.uuid4()
        self._pool = pool
        self._channels = channels
        self._links = links
        self._clock = clock
        self._batch = batch
        self._slots = asyncio.Semaphore(concurrency)
        self._alive = False
        self._rules: dict[int, CampaignRules] = {}
        self._templates: dict[TemplateKey, TemplateVersion | None] = {}

    @asynccontextmanager
    async def holding(self) -> AsyncIterator[None]:
        """Hold this sender's lock (it is alive) while rounds run; another
        sender takes back what this one claimed only once it is let go."""
        async with self._pool.acquire() as held:
            await hold_sender_lock(held, self.id)
            self._alive = True
            try:
                yield
            finally:
                self._alive = False
                await held.execute("SELECT pg_advisory_unlock_all()")

    async def run(self, stop: asyncio.Event, idle_s: float = 1.0) -> Tally:
        """Send until stop is set, resting idle_s when nothing is due."""
        tally = Tally()
        async with self.holding():
            while not stop.is_set():
                busy = await self.round(tally)
                if not busy:
                    try:
                        await asyncio.wait_for(stop.wait(), idle_s)
                    except TimeoutError:
                        pass
        return tally

    async def drain(self) -> Tally:
        """Send what is due, then stop (`recobro messages run --once`)."""
        tally = Tally()
        async with self.holding():
            while await self.round(tally):
                pass
        return tally

    async def round(self, tally: Tally) -> bool:
        """One pass, inside holding(): intake, orphans, one batch of due
        messages. Whether it found any work."""
        if not self._alive:
            raise RuntimeError("Sender.round outside Sender.holding()")
        now = self._clock()
        # A campaign's rules and templates are read once a round: a change
        # applies from the next round.
        self._rules.clear()
        self._templates.clear()
        intake = await take_in(self._pool, now)
        await release_orphans(self._pool, now)
        claimed = await claim_due(self._pool, self.id, now, self._batch, self._channels)
        outcomes = await asyncio.gather(*(self._send_held(m) for m in claimed))
        for outcome in outcomes:
            tally.add(outcome)
        return bool(claimed or intake.read)

    async def _send_held(self, message: OutboxMessage) -> Outcome:
        async with self._slots, self._pool.acquire() as connection:
            lock_key = message.account_id % 2_147_483_647
            await connection.execute(_ACCOUNT_LOCK, lock_key)
            try:
                return await self._send(connection, message)
            finally:
                await connection.execute(_ACCOUNT_UNLOCK, lock_key)

    async def _send(self, connection: asyncpg.Connection, message: OutboxMessage) -> Outcome:
        now = self._clock()
        if message.delivery_code is not None:
            return await self._sent_before(connection, message, now)
        confirmation = message.trigger is Trigger.OPT_OUT_CONFIRMATION
        if message.campaign_id is None and not confirmation:
            return await self._fail(connection, message, "the message has no campaign, so no "
                                    "template", permanent=True)
        rules = (CONFIRMATION_RULES if message.campaign_id is None
                 else await self._rules_of(connection, message.campaign_id))
        facts = await message_facts(connection, message.account_id, now)
        decision = may_send(facts, message.trigger, message.channel, rules.window_profile,
                            rules.caps, now)
        if not isinstance(decision, Allowed):
            held = await mark_refused(connection, message.id, self.id, decision.rule.value,
                                      decision.until, now)
            if not held:
                return Outcome.LOST
            return Outcome.REFUSED if decision.until is None else Outcome.DEFERRED
        try:
            content = await self._content(connection, message, now)
        except (ConfigError, TemplateRefused) as error:
            # Fixed by saving a template: then `recobro messages replay`.
            return await self._fail(connection, message, str(error), permanent=True)
        template_id, body, subject, link = content
        outgoing = Outgoing(message.id, f"recobro-message-{message.id}", message.channel,
                            decision.recipient, body, subject, link)
        try:
            handed = await self._channels[message.channel].send(outgoing)
        except SendFailed as error:
            return await self._fail(connection, message, str(error), permanent=error.permanent)
        done = await mark_sent(connection, message.id, self.id, template_id,
                               decision.recipient, handed.provider_reference, self._clock())
        return Outcome.SENT if done else Outcome.LOST

    async def _sent_before(self, connection: asyncpg.Connection, message: OutboxMessage,
                           now: datetime) -> Outcome:
        """Kannel reported on the message before the outbox said sent: an
        earlier try handed it over (its sender died before writing so, or
        Kannel's answer was lost). It is recorded sent, with the template
        version it composes with now (the one it used, unless a version was
        saved in between), and not sent again."""
        try:
            template_id = (await self._content(connection, message, now))[0]
        except (ConfigError, TemplateRefused):
            template_id = None
        log.info("message %d: Kannel reported on it (%s) before it was recorded sent; an "
                 "earlier try sent it, so it is not sent again", message.id,
                 message.delivery_code)
        done = await mark_sent(connection, message.id, self.id, template_id, message.recipient,
                               None, now)
        return Outcome.SENT if done else Outcome.LOST

    async def _rules_of(self, connection: asyncpg.Connection, campaign_id: int
                        ) -> CampaignRules:
        """A campaign's rules, read once a round."""
        if campaign_id not in self._rules:
            self._rules[campaign_id] = await _campaign_rules(connection, campaign_id)
        return self._rules[campaign_id]

    async def _content(self, connection: asyncpg.Connection, message: OutboxMessage,
                       now: datetime) -> tuple[int | None, str, str | None, str]:
        """The message's template version, body, subject and link: its
        campaign's template, else (an opt-out's confirmation only) Recobro's
        own sentence."""
        try:
            if message.campaign_id is None:
                raise ConfigError("no campaign")
            campaign, account = await message_account(connection, message.campaign_id,
                                                      message.account_id)
            composed = await compose_for(connection, self._links, campaign, account,
                                         message.trigger, message.channel, now,
                                         event=_values(message, account.language),
                                         templates=self._templates)
        except ConfigError:
            if message.trigger is not Trigger.OPT_OUT_CONFIRMATION:
                raise
            language = await connection.fetchval("SELECT language FROM accounts WHERE id = $1",
                                                 message.account_id)
            return None, OPT_OUT_CONFIRMED[language], None, ""
        rendered = composed.rendered
        return composed.template.id, rendered.body, rendered.subject, composed.link

    async def _fail(self, connection: asyncpg.Connection, message: OutboxMessage, error: str,
                    *, permanent: bool = False) -> Outcome:
        log.warning("message %d (%s by %s): %s", message.id, message.trigger.value,
                    message.channel.value, error)
        status = await mark_failed(connection, message.id, self.id, error, self._clock(),
                                   permanent=permanent)
        if status is None:
            return Outcome.LOST
        return Outcome.DEAD if status == "dead" else Outcome.RETRY
