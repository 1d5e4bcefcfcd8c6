"""Agents in PostgreSQL, shared by every dialer process and the API: their
states (moved only through dialer.agents.state's transitions), skills, the
reservation of a free agent for an answered call (skill routing, then an
update that takes the agent only if still free), the events sent to the
agent's desktop (NOTIFY: screen pops, and a pause the dialer made), and the
dispositions agents give their calls."""

from __future__ import annotations

import enum
import json
import logging
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from dialer.agents import routing
from dialer.agents.disposition import DispositionEffect, NewStatus, consequences
from dialer.agents.free_seen import FreeAgentsSeen
from dialer.agents.occupancy import StateChange
from dialer.agents.state import AgentAction, AgentState, apply, settled
from dialer.errors import ConfigError
from dialer.portfolio.store import add_do_not_call
from dialer.settings import DEFAULT_ASTERISK_NAME

log = logging.getLogger(__name__)

AGENT_EVENTS_CHANNEL = "recobro_agent_events"
LAST_INTERACTIONS = 5

# Agent a's skills as a JSON object {skill: level}.
_SKILLS = ("coalesce((SELECT jsonb_object_agg(s.skill, s.level) FROM agent_skills s "
           "WHERE s.endpoint = a.endpoint), '{}') AS skills")
# Ready, or in a wrap-up whose timer ran out (then idle since it did):
# dialer.agents.state.settled in SQL (a store test holds them together).
_FREE = ("(state = 'ready' OR (state = 'wrap_up' "
         "AND (wrap_up_until IS NULL OR wrap_up_until <= $1)))")


# The Asterisk server agent a is reached on: its open session's (the line
# is there), else the one its softphone registers to; NULL: any (a
# deployment with one server).
_AGENT_SERVER = ("coalesce((SELECT s.asterisk FROM agent_sessions s WHERE s.agent = a.endpoint "
                 "AND s.closed_at IS NULL), a.asterisk)")


_SERVER_OF = f"SELECT {_AGENT_SERVER} FROM agents a WHERE a.endpoint = $1"


def on_server(n: int) -> str:
    """SQL: agent a is reached on the Asterisk server named by parameter $n
    (or on any); $n NULL: every agent, wherever it is reached."""
    return f"(${n}::text IS NULL OR coalesce({_AGENT_SERVER}, ${n}) = ${n})"


_FREE_AGENTS = f"""
SELECT a.endpoint, CASE WHEN a.state = 'wrap_up' THEN coalesce(a.wrap_up_until, a.state_since)
           ELSE a.state_since END AS idle_since, {_SKILLS}
FROM agents a WHERE {_FREE} AND {on_server(2)}
"""
# Taken only if still free and on the call's server ($6): another dialer
# may have reserved it meanwhile, or the agents were read a moment ago
# (dialer.agents.free_seen); and not waited for while another holds its
# row (two calls answered at once choose the same agent: the second goes
# on to the next at once).
_TAKE = f"""
UPDATE agents SET state = $3, state_since = $1, attempt_id = $4, wrap_up_until = NULL
WHERE endpoint = (SELECT a.endpoint FROM agents a WHERE a.endpoint = $2 AND {_FREE}
                  AND {on_server(6)} FOR UPDATE SKIP LOCKED)
RETURNING endpoint, attempt_id
"""
# The account's latest attempts but the call's own ($4, as in _TAKE), each
# with its latest disposition, at most $5: t is the call (an attempt or an
# inbound call).
_LAST_INTERACTIONS = """
       (SELECT coalesce(jsonb_agg(x ORDER BY x.started_at DESC), '[]') FROM (
           SELECT p.started_at, p.result, p.agent,
                  (SELECT d.code FROM dispositions d WHERE d.attempt_id = p.id
                   ORDER BY d.at DESC LIMIT 1) AS disposition
           FROM attempts p WHERE p.account_id = t.account_id AND p.id <> $4
           ORDER BY p.started_at DESC LIMIT $5) x) AS last_interactions"""
# The account's latest messages (issue 15): what was sent, and what was
# held back and why. Never a message's text: the templates hold that.
_LAST_MESSAGES = """
       (SELECT coalesce(jsonb_agg(m ORDER BY m.at DESC), '[]') FROM (
           SELECT coalesce(g.sent_at, g.created_at) AS at, g.trigger, g.channel, g.status,
                  g.refused_rule
           FROM messages g WHERE g.account_id = t.account_id
           ORDER BY coalesce(g.sent_at, g.created_at) DESC LIMIT $5) m) AS last_messages"""
_ACCOUNT_SHOWN = ("c.reference, c.debtor_name, c.balance::text AS balance, c.currency, "
                  "c.days_past_due, c.language, c.status")
_OUTBOUND_POP = f"""
SELECT {_ACCOUNT_SHOWN}, t.segment, t.number, {_LAST_INTERACTIONS}, {_LAST_MESSAGES}
FROM attempts t JOIN accounts c ON c.id = t.account_id WHERE t.id = $4
"""
# A caller nobody identified still pops (the account's fields null): the
# agent learns the call's id, and who is calling from the caller.
_INBOUND_POP = f"""
SELECT {_ACCOUNT_SHOWN}, t.caller AS number, t.identified_by, {_LAST_INTERACTIONS},
       {_LAST_MESSAGES}
FROM inbound_calls t LEFT JOIN accounts c ON c.id = t.account_id WHERE t.id = $4
"""


# Each agent's last change at or before $1, then its changes until $2, in
# the order they were made (two at the same moment: the later one holds).
_STATE_CHANGES = """
SELECT endpoint, state, since, wrap_up_until FROM (
    SELECT a.endpoint, l.state, l.since, l.wrap_up_until, l.id FROM agents a
    CROSS JOIN LATERAL (SELECT id, state, since, wrap_up_until FROM agent_state_log
                        WHERE endpoint = a.endpoint AND since <= $1
                        ORDER BY since DESC, id DESC LIMIT 1) l
    UNION ALL
    SELECT endpoint, state, since, wrap_up_until, id FROM agent_state_log
    WHERE since > $1 AND since < $2) changes
ORDER BY since, id
"""


class CallKind(enum.Enum):
    """What an agent is reserved for: a screen pop's "kind"."""

    OUTBOUND = "outbound"  # an answered campaign call: its id is the attempt's
    INBOUND = "inbound"  # a caller from the trunk: its id is the inbound call's


# Each kind's screen pop, and the name the pop gives the call's id (what
# the API's /attempts/{id}/... routes take: every one an attempt's, the
# payment hand-off an inbound call's too).
_POP_SOURCES = {CallKind.OUTBOUND: (_OUTBOUND_POP, "attempt"),
                CallKind.INBOUND: (_INBOUND_POP, "inbound_call")}


def _take_and_pop(kind: CallKind) -> str:
    """_TAKE and the screen pop of the call it reserves the agent for, in
    one statement, with the agent's session line: the agent's row stays
    locked only while it runs (not while another round trip fetches the
    pop), and the pop is sent as it commits; none when the agent was not
    free or the call is unknown."""
    pop, id_name = _POP_SOURCES[kind]
    return f"""
WITH taken AS ({_TAKE}), pop AS ({pop})
SELECT taken.endpoint, (SELECT pg_notify('{AGENT_EVENTS_CHANNEL}', (jsonb_build_object(
           'type', 'screen_pop', 'kind', '{kind.value}', 'agent', taken.endpoint,
           '{id_name}', taken.attempt_id::text) || to_jsonb(pop))::text) FROM pop),
       (SELECT channel FROM agent_sessions
        WHERE agent = taken.endpoint AND closed_at IS NULL) AS line
FROM taken"""


_TAKE_AND_POP = {kind: _take_and_pop(kind) for kind in CallKind}


async def free_agents(connection: asyncpg.Connection, now: datetime,
                      asterisk: str | None = None) -> list[routing.Candidate]:
    """Agents free to take a call at now (those of Asterisk server
    asterisk, when given), with their skills and since when they are idle,
    read without locks (the reservation takes one only if it is still
    free)."""
    return [routing.Candidate(r["endpoint"], r["idle_since"], json.loads(r["skills"]))
            for r in await connection.fetch(_FREE_AGENTS, now, asterisk)]


@dataclass(frozen=True)
class Reservation:
    """An agent reserved for a call, and the channel of its open session
    (its line, and its bridge), read as it was reserved: None when it is
    rung per call."""

    agent: str
    line: str | None


@dataclass(frozen=True)
class AgentRecord:
    endpoint: str
    name: str
    state: AgentState
    since: datetime
    pause_reason: str
    skills: Mapping[str, int]
    asterisk: str | None = None  # the Asterisk server its phone is on; None: any


@dataclass(frozen=True)
class AgentCall:
    """A call an agent takes or took: an outbound attempt or an inbound
    call. channel: the debtor's channel id (None for an inbound call
    taken before it was kept); language: its debtor's (None: a caller
    nobody identified)."""

    channel: str | None
    agent: str | None
    connected: bool
    ended: bool
    kind: CallKind
    language: str | None


@dataclass(frozen=True)
class LiveCall:
    """A call live with an agent: the agent, and the debtor's channel id."""

    call: AgentCall
    agent: str
    channel: str


# An outbound attempt's id is its call's (and its debtor's channel's).
_AGENT_CALL = """
SELECT t.id::text AS channel, t.agent, t.connected_at IS NOT NULL AS connected,
       t.ended_at IS NOT NULL AS ended, 'outbound' AS kind, c.language
FROM attempts t JOIN accounts c ON c.id = t.account_id WHERE t.id = $1
UNION ALL
SELECT t.channel, t.agent, t.connected_at IS NOT NULL, t.ended_at IS NOT NULL, 'inbound',
       c.language
FROM inbound_calls t LEFT JOIN accounts c ON c.id = t.account_id WHERE t.id = $1
"""


@dataclass(frozen=True)
class Moved:
    """An agent's state before and after a person's action."""

    before: AgentState
    after: AgentState


@dataclass(frozen=True)
class OpenSession:
    """An agent's session still open: the agent, and the line's channel
    (and bridge) id."""

    agent: str
    channel: str


class UnknownAgent(ConfigError):
    """No agent has that endpoint."""


class UnknownCall(ConfigError):
    """No outbound attempt or inbound call has that id."""


class CallNotLive(ConfigError):
    """The call has ended, or no agent has it."""


class SessionRefused(ConfigError):
    """The agent's session cannot open (one is open already)."""


class AgentNotFree(ConfigError):
    """The agent cannot be reserved: not ready (busy, paused, logged out)."""


class UnknownSkill(ConfigError):
    """The agent has no skill of that name."""


class UnknownDisposition(ConfigError):
    """No such disposition code."""


class UnknownAttempt(ConfigError):
    """No attempt has that id."""


class NotTheirCall(ConfigError):
    """A disposition by an agent who did not take the call."""


class DispositionRefused(ConfigError):
    """A disposition the call cannot take: no agent took it, it has one
    already (a correction is a supervisor's), or there is none to correct."""


def _agent_record(row: asyncpg.Record, now: datetime) -> AgentRecord:
    """An agents row (with its skills) as it is at now (a wrap-up whose
    timer ran out is ready)."""
    return AgentRecord(row["endpoint"], row["name"],
                       *settled(AgentState(row["state"]), row["state_since"],
                                row["wrap_up_until"], now),
                       row["pause_reason"], json.loads(row["skills"]), row["asterisk"])


async def _lock_agent(connection: asyncpg.Connection, endpoint: str) -> None:
    """Lock the agent's row against a concurrent change of its skills;
    UnknownAgent when there is none."""
    if await connection.fetchval("SELECT 1 FROM agents WHERE endpoint = $1 FOR UPDATE",
                                 endpoint) is None:
        raise UnknownAgent(f"no agent {endpoint!r}")


async def _skills_of(connection: asyncpg.Connection, endpoint: str) -> dict[str, int]:
    rows = await connection.fetch("SELECT skill, level FROM agent_skills WHERE endpoint = $1 "
                                  "ORDER BY skill", endpoint)
    return {r["skill"]: r["level"] for r in rows}


async def _notify(connection: asyncpg.Connection, payload: Mapping[str, object]) -> None:
    """Send an event to the agent's desktop (on commit)."""
    await connection.execute("SELECT pg_notify($1, $2)", AGENT_EVENTS_CHANNEL,
                             json.dumps(payload, default=str))


class AgentStore:
    """The agents, agent_skills and dispositions tables. A store given an
    Asterisk server's name reserves that server's agents only (and those
    with none): the calls of a process bound to that server."""

    def __init__(self, pool: asyncpg.Pool, asterisk: str | None = None) -> None:
        self.pool = pool
        self.asterisk = asterisk

    async def server_of(self, endpoint: str) -> str | None:
        """The Asterisk server the agent is reached on (its open session's,
        else its softphone's); None: any."""
        return await self.pool.fetchval(_SERVER_OF, endpoint)

    def reaches(self, server: str | None) -> bool:
        """Whether this store's process reaches an agent on server (a
        store of no server reaches every agent, an agent of none is
        reached from every server)."""
        return self.asterisk is None or server in (None, self.asterisk)

    async def call_of(self, call: uuid.UUID) -> AgentCall | None:
        """The outbound attempt or inbound call with this id, if any."""
        row = await self.pool.fetchrow(_AGENT_CALL, call)
        return None if row is None else AgentCall(
            row["channel"], row["agent"], row["connected"], row["ended"], CallKind(row["kind"]),
            row["language"])

    async def live_call(self, call: uuid.UUID) -> LiveCall:
        """The outbound attempt or inbound call with this id, live with an
        agent (the checks of every route that acts on a live call: a
        payment, a transfer). UnknownCall, or CallNotLive when it ended or
        has no agent."""
        found = await self.call_of(call)
        if found is None:
            raise UnknownCall(f"no attempt or inbound call {call}")
        if found.ended:
            raise CallNotLive(f"the call of {call} has ended")
        if not found.connected or not found.agent or not found.channel:
            raise CallNotLive(f"the call of {call} is not connected to an agent")
        return LiveCall(found, found.agent, found.channel)

    async def tell(self, agent: str, event: Mapping[str, object]) -> None:
        """Send an event (a JSON object; its "type" says what it is) to the
        agent's desktop."""
        async with self.pool.acquire() as connection:
            await _notify(connection, {**event, "agent": agent})

    async def list(self, now: datetime) -> list[AgentRecord]:
        """Every agent as it is at now (a wrap-up whose timer ran out is ready)."""
        rows = await self.pool.fetch(f"SELECT a.*, {_SKILLS} FROM agents a ORDER BY endpoint")
        return [_agent_record(r, now) for r in rows]

    async def act(self, endpoint: str, action: AgentAction, now: datetime,
                  reason: str = "") -> Moved:
        """A person's action on an agent (log in or out, pause, ready);
        UnknownAgent or AgentTransitionError say why it cannot be. Logging
        in an agent who is logged in, or out one who is out, changes nothing."""
        async with self.pool.acquire() as connection, connection.transaction():
            state = await _locked_state(connection, endpoint, now)
            after = apply(state, action, reason)
            if action in (AgentAction.LOG_IN, AgentAction.LOG_OUT) and after is state:
                return Moved(state, after)
            await connection.execute(
                "UPDATE agents SET state = $2, state_since = $3, pause_reason = $4, "
                "wrap_up_until = NULL, attempt_id = CASE WHEN $5 THEN NULL ELSE attempt_id END "
                "WHERE endpoint = $1", endpoint, after.value, now,
                reason if after is AgentState.PAUSED else "", after is AgentState.LOGGED_OUT)
        return Moved(state, after)

    async def state_changes(self, start: datetime, end: datetime) -> list[StateChange]:
        """Each agent's state at start and its changes until end, from
        agent_state_log, in the order they were made (dialer.agents.occupancy
        measures the floor by them)."""
        rows = await self.pool.fetch(_STATE_CHANGES, start, end)
        return [StateChange(r["endpoint"], AgentState(r["state"]), r["since"],
                            r["wrap_up_until"]) for r in rows]

    async def open_session(self, endpoint: str, channel: str, now: datetime) -> Moved:
        """The agent answered the session call on channel: the session is
        open and the agent logged in (one already logged in stays as it
        is). SessionRefused when the agent has a session open already;
        UnknownAgent when there is no such agent."""
        async with self.pool.acquire() as connection, connection.transaction():
            state = await _locked_state(connection, endpoint, now)
            open_line = await connection.fetchval(
                "SELECT channel FROM agent_sessions WHERE agent = $1 AND closed_at IS NULL",
                endpoint)
            if open_line is not None:
                raise SessionRefused(f"agent {endpoint} has a session open already "
                                     f"(line {open_line})")
            after = apply(state, AgentAction.LOG_IN)
            await connection.execute(
                "INSERT INTO agent_sessions (channel, agent, opened_at, asterisk) "
                "VALUES ($1, $2, $3, $4)", channel, endpoint, now,
                self.asterisk or DEFAULT_ASTERISK_NAME)
            if after is not state:
                await connection.execute(
                    "UPDATE agents SET state = $2, state_since = $3, pause_reason = '', "
                    "wrap_up_until = NULL WHERE endpoint = $1", endpoint, after.value, now)
        return Moved(state, after)

    async def close_session(self, channel: str, now: datetime, reason: str) -> str | None:
        """The session on channel ends (reason: one of
        dialer.agents.state's SESSION_END_REASONS),
        and its agent is logged out in the same transaction, so no call is
        routed to the closed line; the agent, or None if no session was
        open on channel."""
        async with self.pool.acquire() as connection, connection.transaction():
            agent = await connection.fetchval(
                "UPDATE agent_sessions SET closed_at = $2, close_reason = $3 "
                "WHERE channel = $1 AND closed_at IS NULL RETURNING agent", channel, now, reason)
            if agent is None:
                return None
            await connection.execute(
                "UPDATE agents SET state = $2, state_since = $3, pause_reason = '', "
                "wrap_up_until = NULL, attempt_id = NULL WHERE endpoint = $1 "
                "AND state <> $2", agent, AgentState.LOGGED_OUT.value, now)
        log.info("agent %s: session on %s closed (%s), logged out", agent, channel, reason)
        return agent

    async def open_sessions(self) -> list[OpenSession]:
        """Every session still open (those whose line is on this store's
        Asterisk server, when it has one), oldest first."""
        rows = await self.pool.fetch(
            "SELECT agent, channel FROM agent_sessions WHERE closed_at IS NULL "
            "AND ($1::text IS NULL OR asterisk = $1) ORDER BY opened_at", self.asterisk)
        return [OpenSession(row["agent"], row["channel"]) for row in rows]

    async def session_line(self, endpoint: str) -> str | None:
        """The channel of the agent's open session (the agent's line, and
        its bridge), or None: the agent has no session (per-call ringing)."""
        return await self.pool.fetchval(
            "SELECT channel FROM agent_sessions WHERE agent = $1 AND closed_at IS NULL",
            endpoint)

    async def log_in_everyone(self, now: datetime) -> list[str]:
        """Log in every agent who is logged out or paused (a demo or a
        benchmark starts its shift); returns who was."""
        moved = []
        for agent in await self.list(now):
            action = {AgentState.LOGGED_OUT: AgentAction.LOG_IN,
                      AgentState.PAUSED: AgentAction.READY}.get(agent.state)
            if action is not None:
                await self.act(agent.endpoint, action, now)
                moved.append(agent.endpoint)
        return moved

    async def agent(self, endpoint: str, now: datetime) -> AgentRecord | None:
        """One agent as it is at now, or None: no agent has that endpoint."""
        row = await self.pool.fetchrow(
            f"SELECT a.*, {_SKILLS} FROM agents a WHERE endpoint = $1", endpoint)
        return None if row is None else _agent_record(row, now)

    async def set_server(self, endpoint: str, asterisk: str | None) -> None:
        """The Asterisk server the agent's softphone registers to (None:
        any, a deployment with one server): only that server's dialers
        route calls to the agent, and only its API opens the agent's
        session (an open session keeps the agent on its line's server
        until it closes). UnknownAgent when there is none."""
        if await self.pool.fetchval("UPDATE agents SET asterisk = $2 WHERE endpoint = $1 "
                                    "RETURNING endpoint", endpoint, asterisk) is None:
            raise UnknownAgent(f"no agent {endpoint!r}")

    async def set_skills(self, endpoint: str, skills: Mapping[str, int]) -> None:
        """Replace an agent's skills (checked by the caller, who names its
        option or field: dialer.limits.check_skill)."""
        async with self.pool.acquire() as connection, connection.transaction():
            await _lock_agent(connection, endpoint)
            await connection.execute("DELETE FROM agent_skills WHERE endpoint = $1", endpoint)
            await connection.executemany(
                "INSERT INTO agent_skills (endpoint, skill, level) VALUES ($1, $2, $3)",
                [(endpoint, skill, level) for skill, level in skills.items()])

    async def set_skill(self, endpoint: str, skill: str, level: int) -> Mapping[str, int]:
        """Give an agent one skill at a level, or change its level (checked
        by the caller: dialer.limits.check_skill); the agent's skills now."""
        async with self.pool.acquire() as connection, connection.transaction():
            await _lock_agent(connection, endpoint)
            await connection.execute(
                "INSERT INTO agent_skills (endpoint, skill, level) VALUES ($1, $2, $3) "
                "ON CONFLICT (endpoint, skill) DO UPDATE SET level = excluded.level",
                endpoint, skill, level)
            return await _skills_of(connection, endpoint)

    async def remove_skill(self, endpoint: str, skill: str) -> Mapping[str, int]:
        """Take a skill from an agent; UnknownSkill when it has none of that
        name. The agent's skills now."""
        async with self.pool.acquire() as connection, connection.transaction():
            await _lock_agent(connection, endpoint)
            if await connection.fetchval(
                    "DELETE FROM agent_skills WHERE endpoint = $1 AND skill = $2 "
                    "RETURNING skill", endpoint, skill) is None:
                raise UnknownSkill(f"agent {endpoint} has no skill {skill!r}")
            return await _skills_of(connection, endpoint)

    async def reserve(self, attempt_id: uuid.UUID, now: datetime, needs: routing.CallNeeds,
                      kind: CallKind = CallKind.OUTBOUND,
                      seen: FreeAgentsSeen | None = None) -> Reservation | None:
        """Reserve the free agent skill routing picks for an answered call
        (attempt_id: the attempt's, or the inbound call's for kind INBOUND),
        and send that agent's desktop the screen pop (on commit, so before
        the agent's phone rings). Free agents are read without locks and
        the chosen one taken, with its pop, in one statement only if still
        free, so that dialers answering calls at the same moment wait
        neither for each other nor for each other's pop (one held by
        another is passed over). seen: the free agents as last read, taken
        from while good (dialer.agents.free_seen); read afresh when nobody
        of it may take the call, or the one it offered was not free after
        all. The agent, with its session line."""
        reserved = apply(AgentState.READY, AgentAction.RESERVE).value
        async with self.pool.acquire() as connection:
            async def read_now() -> list[routing.Candidate]:
                return await free_agents(connection, now, self.asterisk)

            async def read_fresh() -> list[routing.Candidate]:
                return await (seen.read(read_now) if seen is not None else read_now())

            candidates = seen.agents() if seen is not None else None
            fresh = candidates is None
            if candidates is None:
                candidates = await read_fresh()
            while True:
                chosen = routing.choose(
                    seen.untaken(candidates) if seen is not None else candidates, needs)
                if chosen is None and not fresh:
                    # Nobody of the read may take it: read what is free now.
                    candidates, fresh = await read_fresh(), True
                    continue
                if chosen is None:
                    return None
                if seen is not None:
                    seen.taking(chosen.endpoint)
                try:
                    taken = await connection.fetchrow(_TAKE_AND_POP[kind], now, chosen.endpoint,
                                                      reserved, attempt_id, LAST_INTERACTIONS,
                                                      self.asterisk)
                finally:
                    # Also when the take failed or was cancelled: it may
                    # have committed, and a read 5 s old at most forgets it.
                    if seen is not None:
                        seen.taken(chosen.endpoint)
                if taken is not None:
                    return Reservation(chosen.endpoint, taken["line"])
                if fresh:
                    candidates.remove(chosen)
                else:
                    # The read is behind (another process took that agent,
                    # which nothing announces): read afresh, one try at most.
                    candidates, fresh = await read_fresh(), True

    async def free_now(self, now: datetime) -> list[routing.Candidate]:
        """The agents free to take a call at now (this server's)."""
        async with self.pool.acquire() as connection:
            return await free_agents(connection, now, self.asterisk)

    async def transfer_target(self, call: uuid.UUID,
                              agent: str) -> tuple[str, AgentState] | None:
        """The agent a transfer of call (from agent) has reserved or
        brought in, with its state, if a transfer goes on."""
        row = await self.pool.fetchrow(
            "SELECT endpoint, state FROM agents WHERE attempt_id = $1 AND endpoint <> $2 "
            "AND state IN ('reserved', 'on_call')", call, agent)
        return None if row is None else (row["endpoint"], AgentState(row["state"]))

    async def reserve_named(self, endpoint: str, call: uuid.UUID, now: datetime,
                            kind: CallKind) -> None:
        """Reserve the agent endpoint for call (a transfer to it), with its
        screen pop (on commit); UnknownAgent when there is none,
        AgentNotFree when it is not free (its state said)."""
        reserved = apply(AgentState.READY, AgentAction.RESERVE).value
        async with self.pool.acquire() as connection, connection.transaction():
            state = await _locked_state(connection, endpoint, now)
            server = await connection.fetchval(_SERVER_OF, endpoint)
            if not self.reaches(server):
                raise AgentNotFree(f"agent {endpoint} is on Asterisk server {server!r}, and "
                                   f"the call on {self.asterisk!r}")
            if state is not AgentState.READY or await connection.fetchval(
                    _TAKE_AND_POP[kind], now, endpoint, reserved, call,
                    LAST_INTERACTIONS, self.asterisk) is None:
                raise AgentNotFree(f"agent {endpoint} is {state.value.replace('_', ' ')}, "
                                   "not free to take the call")

    async def release(self, endpoint: str, now: datetime) -> None:
        """A reserved agent not connected after all, through nobody's fault
        (the debtor hung up first): ready again."""
        await self.pool.execute(
            "UPDATE agents SET state = $3, state_since = $2, attempt_id = NULL "
            "WHERE endpoint = $1 AND state = 'reserved'", endpoint, now,
            apply(AgentState.RESERVED, AgentAction.RELEASE).value)

    async def miss(self, endpoint: str, now: datetime, reason: str, call_id: str,
                   detail: str) -> None:
        """A reserved agent whose phone did not take the call (reason: one
        of MISS_REASONS): paused with that reason, so no call is sent to it
        again until the agent is ready; the agent's desktop and the log are
        told why."""
        after = apply(AgentState.RESERVED, AgentAction.MISS, reason)
        async with self.pool.acquire() as connection, connection.transaction():
            moved = await connection.fetchval(
                "UPDATE agents SET state = $3, state_since = $2, pause_reason = $4, "
                "attempt_id = NULL WHERE endpoint = $1 AND state = 'reserved' "
                "RETURNING endpoint", endpoint, now, after.value, reason)
            if moved is None:
                return
            await _notify(connection, {"type": "agent_state", "agent": endpoint,
                                       "state": after.value, "reason": reason,
                                       "detail": detail, "call": call_id,
                                       "at": now.isoformat()})
        log.warning("agent %s paused (%s) on call %s: %s", endpoint, reason, call_id, detail)

    async def free_stranded(self, connection: asyncpg.Connection, now: datetime,
                            alive: Collection[str]) -> list[tuple[str, str | None]]:
        """Agents a call no longer holds: reserved or on a call whose attempt
        has ended, or whose dialer is dead (its lock is free) and whose
        debtor Asterisk no longer has (alive: its channel ids): ready again.
        A dead dialer's call still up is its next dialer's to adopt. Only
        the dead dialers of this store's Asterisk server count (alive lists
        that server's channels; another's calls may well be up). Who was
        freed, with the agent's leg (which may still be up: hang it up)."""
        rows = await connection.fetch(
            "UPDATE agents a SET state = $2, state_since = $1, attempt_id = NULL, "
            "wrap_up_until = NULL FROM attempts t WHERE a.attempt_id = t.id "
            "AND a.state IN ('reserved', 'on_call') AND (t.result IS NOT NULL OR ("
            "NOT t.id::text = ANY ($3::text[]) AND EXISTS (SELECT 1 FROM dialers d "
            "WHERE d.id = t.dialer_id AND ($4::text IS NULL OR d.asterisk = $4) "
            "AND pg_try_advisory_xact_lock(d.lock_key)))) "
            "RETURNING a.endpoint, t.agent_channel", now,
            apply(AgentState.RESERVED, AgentAction.RELEASE).value, list(alive), self.asterisk)
        return [(r["endpoint"], r["agent_channel"]) for r in rows]

    async def on_call(self, endpoint: str, now: datetime) -> None:
        await self.pool.execute(
            "UPDATE agents SET state = $3, state_since = $2 WHERE endpoint = $1 "
            "AND state = 'reserved'", endpoint, now,
            apply(AgentState.RESERVED, AgentAction.CONNECT).value)

    async def wrap_up(self, endpoint: str, now: datetime, seconds: float) -> None:
        """The call ended: wrap-up, ready again by itself after seconds."""
        await self.pool.execute(
            "UPDATE agents SET state = $4, state_since = $2, "
            "wrap_up_until = $2::timestamptz + make_interval(secs => $3::float8), "
            "attempt_id = NULL WHERE endpoint = $1 AND state IN ('reserved', 'on_call')",
            endpoint, now, seconds, apply(AgentState.ON_CALL, AgentAction.HANG_UP).value)

    async def dispose(self, attempt_id: uuid.UUID, code: str, agent: str | None, note: str,
                      now: datetime) -> DispositionEffect:
        """Record the disposition of a call by the agent who took it (agent
        None: whoever did) and make its consequences
        (dialer.agents.disposition) on the account; returns its effect.
        A call takes one disposition: DispositionRefused for a second one
        (correct() changes it) or for a call no agent took; NotTheirCall
        when the agent named did not take it."""
        async with self.pool.acquire() as connection, connection.transaction():
            effect = await _effect_of(connection, code)
            attempt = await _locked_attempt(connection, attempt_id)
            if agent is not None and await connection.fetchval(
                    "SELECT 1 FROM agents WHERE endpoint = $1", agent) is None:
                raise UnknownAgent(f"no agent {agent!r}")
            if attempt["agent"] is None:
                raise DispositionRefused(f"no agent took attempt {attempt_id}: it takes no "
                                         "disposition")
            if agent is not None and agent != attempt["agent"]:
                raise NotTheirCall(f"attempt {attempt_id} was not {agent}'s call")
            if await connection.fetchval("SELECT 1 FROM dispositions WHERE attempt_id = $1",
                                         attempt_id):
                raise DispositionRefused(f"attempt {attempt_id} has its disposition already "
                                         "(a supervisor corrects it)")
            await connection.execute(
                "INSERT INTO dispositions (attempt_id, code, agent, note, at) "
                "VALUES ($1, $2, $3, $4, $5)", attempt_id, code, attempt["agent"], note, now)
            await _make_consequences(connection, effect, attempt, now)
        return effect

    async def correct(self, attempt_id: uuid.UUID, code: str, note: str,
                      now: datetime) -> DispositionEffect:
        """A supervisor's correction of a call's disposition: a new row that
        names the one it corrects (which stays), in the name of the agent
        who took the call, with the new code's consequences. Who corrected
        is in the API's audit."""
        async with self.pool.acquire() as connection, connection.transaction():
            effect = await _effect_of(connection, code)
            attempt = await _locked_attempt(connection, attempt_id)
            latest = await connection.fetchrow(
                "SELECT id, agent FROM dispositions WHERE attempt_id = $1 "
                "ORDER BY at DESC, id DESC LIMIT 1", attempt_id)
            if latest is None:
                raise DispositionRefused(f"attempt {attempt_id} has no disposition to correct")
            await connection.execute(
                "INSERT INTO dispositions (attempt_id, code, agent, note, at, corrects) "
                "VALUES ($1, $2, $3, $4, $5, $6)", attempt_id, code, latest["agent"], note, now,
                latest["id"])
            await _make_consequences(connection, effect, attempt, now)
        return effect


@dataclass(frozen=True)
class DispositionFilter:
    """Which dispositions a list shows: of one campaign (by name), one
    code, one agent, and from one UTC day to another (both included);
    None: any."""

    campaign: str | None = None
    code: str | None = None
    agent: str | None = None
    first_day: date | None = None
    last_day: date | None = None


@dataclass(frozen=True)
class DispositionRecord:
    """A disposition as a list shows it: the call, its campaign and its
    debtor's account reference (the account's own data is its 360 view's)."""

    id: int
    at: datetime
    attempt: uuid.UUID
    campaign: str
    account: str
    code: str
    agent: str
    note: str
    corrects: int | None  # the disposition this one corrects


class FilterRefused(ConfigError):
    """A list's filter that names nothing there is (field: the filter's)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


_DISPOSITION_PAGE = """
SELECT d.id, d.at, d.attempt_id, m.name AS campaign, c.reference, d.code, d.agent, d.note,
       d.corrects
FROM dispositions d JOIN attempts t ON t.id = d.attempt_id
     JOIN campaigns m ON m.id = t.campaign_id JOIN accounts c ON c.id = t.account_id
WHERE ($1::text IS NULL OR m.name = $1) AND ($2::text IS NULL OR d.code = $2)
  AND ($3::text IS NULL OR d.agent = $3)
  AND ($4::date IS NULL OR d.at >= $4::date::timestamp AT TIME ZONE 'UTC')
  AND ($5::date IS NULL OR d.at < ($5::date + 1)::timestamp AT TIME ZONE 'UTC')
  AND ($6::bigint IS NULL OR d.id > $6)
ORDER BY d.id LIMIT $7
"""
# What each filter must name, and how its refusal reads.
_FILTER_NAMES = (("campaign", "SELECT 1 FROM campaigns WHERE name = $1", "no campaign"),
                 ("code", "SELECT 1 FROM disposition_codes WHERE code = $1",
                  "no disposition code"),
                 ("agent", "SELECT 1 FROM agents WHERE endpoint = $1", "no agent"))


async def disposition_page(pool: asyncpg.Pool, shown: DispositionFilter, after: int | None,
                           limit: int) -> list[DispositionRecord]:
    """Dispositions by id (corrections are their own rows), the first
    limit after the id `after`; FilterRefused names a filter that names
    no campaign, code or agent, or a last day before the first."""
    if shown.first_day and shown.last_day and shown.last_day < shown.first_day:
        raise FilterRefused("to", f"{shown.last_day} is before the first day, "
                                  f"{shown.first_day}")
    for field, query, missing in _FILTER_NAMES:
        value = getattr(shown, field)
        if value is not None and await pool.fetchval(query, value) is None:
            raise FilterRefused(field, f"{missing} {value!r}")
    rows = await pool.fetch(_DISPOSITION_PAGE, shown.campaign, shown.code, shown.agent,
                            shown.first_day, shown.last_day, after, limit)
    return [DispositionRecord(r["id"], r["at"], r["attempt_id"], r["campaign"], r["reference"],
                              r["code"], r["agent"], r["note"], r["corrects"]) for r in rows]


async def _locked_attempt(connection: asyncpg.Connection,
                          attempt_id: uuid.UUID) -> asyncpg.Record:
    """The attempt a disposition is about, locked (FOR UPDATE: two
    dispositions of one call at once are one, then a refusal)."""
    attempt = await connection.fetchrow(
        "SELECT t.account_id, t.number, t.agent, c.reference FROM attempts t "
        "JOIN accounts c ON c.id = t.account_id WHERE t.id = $1 FOR UPDATE OF t", attempt_id)
    if attempt is None:
        raise UnknownAttempt(f"no attempt {attempt_id}")
    return attempt


async def _effect_of(connection: asyncpg.Connection, code: str) -> DispositionEffect:
    effect = await connection.fetchval("SELECT effect FROM disposition_codes WHERE code = $1",
                                       code)
    if effect is None:
        codes = [r["code"] for r in await connection.fetch(
            "SELECT code FROM disposition_codes ORDER BY code")]
        raise UnknownDisposition(f"no disposition code {code!r}; codes: {', '.join(codes)}")
    return DispositionEffect(effect)


async def _make_consequences(connection: asyncpg.Connection, effect: DispositionEffect,
                             attempt: asyncpg.Record, now: datetime) -> None:
    for consequence in consequences(effect, attempt["reference"], attempt["number"]):
        if isinstance(consequence, NewStatus):
            await connection.execute(
                "UPDATE accounts SET status = $2, updated_at = $3 WHERE id = $1",
                attempt["account_id"], consequence.status.value, now)
        else:
            await add_do_not_call(connection, consequence, now)


async def _locked_state(connection: asyncpg.Connection, endpoint: str,
                        now: datetime) -> AgentState:
    """The agent's state at now, its row locked until the transaction ends;
    UnknownAgent when there is no such agent."""
    row = await connection.fetchrow(
        "SELECT state, state_since, wrap_up_until FROM agents WHERE endpoint = $1 FOR UPDATE",
        endpoint)
    if row is None:
        raise UnknownAgent(f"no agent {endpoint!r}")
    return settled(AgentState(row["state"]), row["state_since"], row["wrap_up_until"], now)[0]
