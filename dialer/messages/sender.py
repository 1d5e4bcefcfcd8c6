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
from dialer.messages.batches import waves
from dialer.messages.channels import MessageChannel, Outgoing, SendFailed
from dialer.messages.composing import compose_for
from dialer.messages.intake import take_in
from dialer.messages.model import Channel, Trigger
from dialer.messages.rules import Allowed, Caps, MessageFacts, may_send
from dialer.messages.store import (
    OutboxMessage,
    PreviewAccount,
    Sent,
    TemplateVersion,
    accounts_in_campaigns,
    accounts_message_facts,
    claim_due,
    hold_sender_lock,
    mark_all_sent,
    mark_failed,
    mark_refused,
    mark_sent,
    release_orphans,
)
from dialer.messages.templates import OPT_OUT_CONFIRMED, TemplateKey, TemplateRefused
from dialer.messages.triggers import TriggerEvent, event_values
from dialer.metrics.definitions import MESSAGES
from dialer.settings import PaymentLinkSettings

log = logging.getLogger(__name__)

# (campaign id, account id) -> the campaign's name and the account
Accounts = Mapping[tuple[int, int], tuple[str, PreviewAccount]]

# Messages claimed a round, and handed to their channels at once (requests
# in flight: Kannel answers a sendsms only once its bearerbox has the text).
BATCH = 500
HANDED_AT_ONCE = 64

# One account's messages are decided and sent one at a time, across
# senders: the caps count what was sent, so two at once could both pass. A
# wave's accounts are locked together, in order (no two senders deadlock).
_ACCOUNTS_LOCK = ("SELECT count(pg_advisory_lock(hashtext('recobro.message-account'), k)) "
                  "FROM (SELECT DISTINCT k FROM unnest($1::int[]) k ORDER BY k) keys")
_ACCOUNTS_UNLOCK = ("SELECT count(pg_advisory_unlock(hashtext('recobro.message-account'), k)) "
                    "FROM unnest($1::int[]) k")


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

    def add(self, outcome: Outcome, channel: Channel) -> None:
        """One message handled: counted here and in the metrics."""
        self.counts[outcome] += 1
        MESSAGES.labels(channel.value, outcome.value).inc()

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


@dataclass(frozen=True)
class _Ready:
    """A message the rules allowed, composed, to hand to its channel."""

    message: OutboxMessage
    outgoing: Outgoing
    template_id: int | None


class Sender:
    """One sender process's work; run() until stop is set."""

    def __init__(self, pool: asyncpg.Pool, channels: Mapping[Channel, MessageChannel],
                 links: PaymentLinkSettings, clock: Callable[[], datetime], *,
                 batch: int = BATCH, concurrency: int = HANDED_AT_ONCE) -> None:
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
        # An account's second message must see its first sent.
        for wave in waves(claimed, key=lambda message: message.account_id):
            for message, outcome in zip(wave, await self._send_wave(wave), strict=True):
                tally.add(outcome, message.channel)
        return bool(claimed or intake.read)

    async def _send_wave(self, wave: list[OutboxMessage]) -> list[Outcome]:
        keys = [message.account_id % 2_147_483_647 for message in wave]
        async with self._pool.acquire() as connection:
            await connection.execute(_ACCOUNTS_LOCK, keys)
            try:
                return await self._send(connection, wave)
            finally:
                await connection.execute(_ACCOUNTS_UNLOCK, sorted(set(keys)))

    async def _send(self, connection: asyncpg.Connection, wave: list[OutboxMessage]
                    ) -> list[Outcome]:
        """Decide, compose, hand over and record a wave, its accounts held:
        a few round trips for the whole wave and one hand-over each; the
        outcomes in the wave's order."""
        now = self._clock()
        outcomes: dict[int, Outcome] = {}
        facts = await accounts_message_facts(connection, [m.account_id for m in wave], now)
        allowed: list[tuple[OutboxMessage, str]] = []
        reported: list[OutboxMessage] = []
        for message in wave:
            if message.delivery_code is not None:
                reported.append(message)
                continue
            decided = await self._decide(connection, message, facts.get(message.account_id),
                                         now)
            if isinstance(decided, Outcome):
                outcomes[message.id] = decided
            else:
                allowed.append((message, decided))
        composing = [message for message, _ in allowed] + reported
        accounts = await accounts_in_campaigns(connection, [
            (m.campaign_id, m.account_id) for m in composing if m.campaign_id is not None])
        for message in reported:
            outcomes[message.id] = await self._sent_before(connection, message, accounts, now)
        ready: list[_Ready] = []
        for message, recipient in allowed:
            try:
                template_id, body, subject, link = await self._content(
                    connection, message, accounts, now)
            except (ConfigError, TemplateRefused) as error:
                # Fixed by saving a template: then `recobro messages replay`.
                outcomes[message.id] = await self._fail(connection, message, str(error),
                                                        permanent=True)
                continue
            ready.append(_Ready(message, Outgoing(
                message.id, f"recobro-message-{message.id}", message.channel, recipient, body,
                subject, link), template_id))
        outcomes.update(await self._hand_over_all(connection, ready))
        return [outcomes[message.id] for message in wave]

    async def _hand_over_all(self, connection: asyncpg.Connection, ready: list[_Ready]
                             ) -> dict[int, Outcome]:
        """Hand messages to their channels, HANDED_AT_ONCE at a time, and
        record each as it comes back, the sent ones HANDED_AT_ONCE to an
        UPDATE: a text its provider took waits only moments unrecorded (a
        sender killed then sends it again; a provider's report on it finds
        it only once recorded)."""
        outcomes: dict[int, Outcome] = {}
        taken: list[Sent] = []

        async def record_taken() -> None:
            recorded = await mark_all_sent(connection, self.id, taken, self._clock())
            for sent in taken:
                outcomes[sent.message_id] = (Outcome.SENT if sent.message_id in recorded
                                             else Outcome.LOST)
            taken.clear()

        for handing in asyncio.as_completed([self._hand_over(one) for one in ready]):
            one, result = await handing
            if isinstance(result, SendFailed):
                outcomes[one.message.id] = await self._fail(
                    connection, one.message, str(result), permanent=result.permanent)
                continue
            taken.append(result)
            if len(taken) >= HANDED_AT_ONCE:
                await record_taken()
        if taken:
            await record_taken()
        return outcomes

    async def _decide(self, connection: asyncpg.Connection, message: OutboxMessage,
                      facts: MessageFacts | None, now: datetime) -> Outcome | str:
        """The recipient the rules allow the message to, or the outcome of
        not sending it (recorded)."""
        confirmation = message.trigger is Trigger.OPT_OUT_CONFIRMATION
        if message.campaign_id is None and not confirmation:
            return await self._fail(connection, message, "the message has no campaign, so no "
                                    "template", permanent=True)
        if facts is None:
            return await self._fail(connection, message, f"no account {message.account_id}",
                                    permanent=True)
        rules = (CONFIRMATION_RULES if message.campaign_id is None
                 else await self._rules_of(connection, message.campaign_id))
        decision = may_send(facts, message.trigger, message.channel, rules.window_profile,
                            rules.caps, now)
        if isinstance(decision, Allowed):
            return decision.recipient
        held = await mark_refused(connection, message.id, self.id, decision.rule.value,
                                  decision.until, now)
        if not held:
            return Outcome.LOST
        return Outcome.REFUSED if decision.until is None else Outcome.DEFERRED

    async def _hand_over(self, ready: _Ready) -> tuple[_Ready, Sent | SendFailed]:
        async with self._slots:
            try:
                handed = await self._channels[ready.message.channel].send(ready.outgoing)
            except SendFailed as error:
                return ready, error
            except Exception as error:
                # A channel's own fault is one message's failed try, never
                # the loss of what its wave-mates' channels took.
                log.exception("message %d: its %s channel failed", ready.message.id,
                              ready.message.channel.value)
                return ready, SendFailed(f"the channel failed: {type(error).__name__}")
        return ready, Sent(ready.message.id, ready.template_id, ready.outgoing.recipient,
                           handed.provider_reference)

    async def _sent_before(self, connection: asyncpg.Connection, message: OutboxMessage,
                           accounts: Accounts, now: datetime) -> Outcome:
        """Kannel reported on the message before the outbox said sent: an
        earlier try handed it over (its sender died before writing so, or
        Kannel's answer was lost). It is recorded sent, with the template
        version it composes with now (the one it used, unless a version was
        saved in between), and not sent again."""
        try:
            template_id = (await self._content(connection, message, accounts, now))[0]
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
                       accounts: Accounts, now: datetime
                       ) -> tuple[int | None, str, str | None, str]:
        """The message's template version, body, subject and link: its
        campaign's template, else (an opt-out's confirmation only) Recobro's
        own sentence."""
        try:
            found = (None if message.campaign_id is None
                     else accounts.get((message.campaign_id, message.account_id)))
            if found is None:
                raise ConfigError(f"no account {message.account_id} in campaign "
                                  f"{message.campaign_id}")
            campaign, account = found
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
