"""A discrete-event simulator of outbound shifts, driving any pacing policy
through the same Snapshot and events it sees live. Seeded and reproducible."""

from __future__ import annotations

import heapq
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from pacing.fates import Fate
from pacing.model import (
    AgentState,
    AgentView,
    CallAbandoned,
    CallConnected,
    CallResolved,
    DialResult,
    PacingEvent,
    PacingPolicy,
    Snapshot,
    TalkEnded,
    WrapUpEnded,
)
from pacing.pools import PoolCall, SkilledAgent, split
from pacing.scenario import Scenario
from pacing.timeline import CallMoments, heard

GRACE_S = 2.0  # the 2-second rule
TICK_S = 1.0  # the policy is also asked once a second between events
LAST_DIAL_S = 120.0  # dialing stops this long before the shift ends
# Agents' time is measured in steady state: the first minutes of a shift
# (everyone ready, nothing ringing yet) and its wind-down are left out, as
# the LP optimum they are compared with is a stationary bound.
WARM_UP_S = 600.0
COOL_DOWN_S = 300.0
DAY_S = 86400.0


class _Kind(IntEnum):
    RESOLVE = 0
    TALK_END = 1
    WRAP_END = 2
    PATIENCE = 3
    PAUSE_START = 4
    PAUSE_END = 5
    LOGIN = 6
    LOGOUT = 7
    TICK = 8
    DIALER_STOP = 9
    DIALER_START = 10


@dataclass(frozen=True)
class Restart:
    """The dialer stops at `at` and another starts gap_s later. Meanwhile
    nobody dials, connects or hears: a person who answers then is
    abandoned (the new dialer adopts the call after its 2 seconds). `make`
    gives the new dialer's policy from what the campaign's pacing heard
    until the stop (in order, as PostgreSQL keeps it) and the stopped
    policy (whose closed loop's last state was saved)."""

    at: float
    gap_s: float
    make: Callable[[list[PacingEvent], PacingPolicy], PacingPolicy]


@dataclass
class RunMetrics:
    """What one simulated run measured."""

    policy: str
    scenario: str
    talk_s: float = 0.0  # includes time lost on machines AMD let through
    wrap_s: float = 0.0
    ready_s: float = 0.0
    paused_s: float = 0.0
    dials: int = 0
    live_answers: int = 0  # people AMD let through
    connects: int = 0
    abandoned: int = 0
    amd_false_positives: int = 0
    waits: list[float] = field(default_factory=list)  # agent idle time between calls
    answer_log: list[tuple[float, int, int]] = field(default_factory=list)  # (t, live, ab)
    decision_ns: list[int] = field(default_factory=list)
    span_start: float = 0.0  # the first shift's start
    span_end: float = 0.0  # the last shift's end
    probe_worked_s: float = 0.0  # talk and wrap-up within the probe window
    probe_ready_s: float = 0.0
    # People who answered, and those abandoned, by their language ("" in a
    # scenario without languages).
    people_by_language: Counter[str] = field(default_factory=Counter)
    abandoned_by_language: Counter[str] = field(default_factory=Counter)

    @property
    def probe_occupancy(self) -> float:
        """Occupancy within the probe window (Simulation's probe)."""
        total = self.probe_worked_s + self.probe_ready_s
        return self.probe_worked_s / total if total else 0.0

    @property
    def occupancy(self) -> float:
        """Talk and wrap-up over logged-in, unpaused time."""
        worked = self.talk_s + self.wrap_s
        total = worked + self.ready_s
        return worked / total if total else 0.0

    @property
    def agent_hours(self) -> float:
        return (self.talk_s + self.wrap_s + self.ready_s + self.paused_s) / 3600.0

    @property
    def connects_per_agent_hour(self) -> float:
        return self.connects / self.agent_hours if self.agent_hours else 0.0

    @property
    def abandon_rate(self) -> float:
        """Abandoned live calls (AMD's false positives included) over live calls."""
        people = self.live_answers + self.amd_false_positives
        return (self.abandoned + self.amd_false_positives) / people if people else 0.0

    def worst_window_abandon_rate(self, window_s: float = DAY_S,
                                  step_s: float = 3600.0) -> float:
        """The worst abandon rate over windows of window_s starting on every
        step_s (every hour) that lie within the simulated days: from the first
        shift's start to the last shift's end (the whole run if shorter)."""
        if not self.answer_log:
            return 0.0
        log = np.asarray(self.answer_log, dtype=float)
        times, live, ab = log[:, 0], np.cumsum(log[:, 1]), np.cumsum(log[:, 2])
        last_start = max(self.span_start, self.span_end - window_s)
        worst = 0.0
        for start in np.arange(self.span_start, last_start + 1e-9, step_s):
            lo = int(np.searchsorted(times, start, side="left"))
            hi = int(np.searchsorted(times, start + window_s, side="left"))
            if hi > lo:
                n_live = live[hi - 1] - (live[lo - 1] if lo else 0)
                n_ab = ab[hi - 1] - (ab[lo - 1] if lo else 0)
                worst = max(worst, n_ab / n_live)
        return float(worst)

    @property
    def mean_wait_s(self) -> float:
        return float(np.mean(self.waits)) if self.waits else 0.0


class _Agent:
    __slots__ = ("call", "languages", "logged_in", "logout_pending", "pause_pending", "since",
                 "state", "view")

    def __init__(self, languages: frozenset[str] = frozenset()) -> None:
        self.languages = languages  # empty: a scenario without languages
        self.state = AgentState.PAUSED
        self.since = 0.0
        self.view = AgentView(self.state, self.since)
        self.logged_in = False
        self.pause_pending = False
        self.logout_pending = False
        self.call = -1  # the call it talks on or wraps up after


class Simulation:
    """One policy through one scenario. In a scenario with languages the
    policy decides for each language's pool (pacing.pools) and each call is
    dialed for a debtor of its pool's language; by_pool False is a
    language-blind dialer: one snapshot of everyone, and each call's debtor
    speaks a language drawn from the debtors' shares. With fates (drawn
    ahead, pacing.fates) each dial meets the next fate's debtor instead of
    a fresh draw, and dialing stops when they run out, as a campaign's
    leads do."""

    def __init__(self, scenario: Scenario, policy: PacingPolicy, restart: Restart | None = None,
                 probe: tuple[float, float] | None = None, by_pool: bool = True,
                 fates: Sequence[Fate] | None = None) -> None:
        self.s = scenario
        self.policy = policy
        self.by_pool = by_pool
        self.restart = restart
        self.probe = probe  # a window whose occupancy is measured apart
        self._down = False  # between a restart's stop and start
        self._stopped: PacingPolicy | None = None
        self._history: list[PacingEvent] = []
        self.rng = np.random.default_rng(scenario.seed)
        self.metrics = RunMetrics(policy=policy.name, scenario=scenario.name)
        self.now = 0.0
        self._heap: list[tuple[float, int, int, int]] = []
        self._seq = 0
        speaks = scenario.agent_speaks() or [frozenset()] * scenario.agents
        self.agents = [_Agent(languages) for languages in speaks]
        self.dialing: dict[int, float] = {}
        self.waiting: deque[tuple[int, float]] = deque()  # (call id, answered at)
        self.languages: list[str] = []  # each call's debtor's ("" without languages)
        self._next_call = 0
        self._shift_open = False
        self._shift_start = 0.0
        # Each resolved call's moments (pacing.timeline): what the policy
        # heard is exactly timeline.heard(moments.values()).
        self.moments: dict[int, CallMoments] = {}
        self.fates = fates
        self._talks: dict[int, float] = {}  # a fated live call's talk seconds

    # -- event queue ----------------------------------------------------
    def _at(self, t: float, kind: _Kind, ref: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, ref))

    # -- agents ---------------------------------------------------------
    def _measured(self, start: float, end: float) -> float:
        """The part of [start, end] inside a shift's steady state."""
        s = self.s
        total = 0.0
        first = int(start // DAY_S)
        for day in range(first, int(end // DAY_S) + 1):
            shift = day * DAY_S + s.start_hour * 3600.0
            lo = max(start, shift + WARM_UP_S)
            hi = min(end, shift + s.shift_hours * 3600.0 - COOL_DOWN_S)
            total += max(0.0, hi - lo)
        return total

    def _person(self, call: int, abandoned: bool) -> None:
        """A person answered call: connected, or abandoned."""
        self.metrics.answer_log.append((self.now, 1, int(abandoned)))
        language = self.languages[call]
        self.metrics.people_by_language[language] += 1
        self.metrics.abandoned_by_language[language] += int(abandoned)

    def _hear(self, event: PacingEvent) -> None:
        if not self._down:
            self.policy.observe(event)

    def _set_state(self, agent: _Agent, state: AgentState) -> None:
        spent = self._measured(agent.since, self.now)
        m = self.metrics
        if self.probe is not None and agent.logged_in:
            overlap = max(0.0, min(self.now, self.probe[1]) - max(agent.since, self.probe[0]))
            if agent.state is AgentState.READY:
                m.probe_ready_s += overlap
            elif agent.state in (AgentState.TALKING, AgentState.WRAP_UP):
                m.probe_worked_s += overlap
        if agent.state is AgentState.READY:
            m.ready_s += spent
        elif agent.state is AgentState.TALKING:
            m.talk_s += spent
        elif agent.state is AgentState.WRAP_UP:
            m.wrap_s += spent
        elif agent.logged_in:
            m.paused_s += spent
        agent.state = state
        agent.since = self.now
        agent.view = AgentView(state, self.now)

    def _become_free(self, index: int) -> None:
        agent = self.agents[index]
        if agent.logout_pending:
            self._set_state(agent, AgentState.PAUSED)
            agent.logged_in = agent.logout_pending = False
            return
        if agent.pause_pending:
            agent.pause_pending = False
            self._set_state(agent, AgentState.PAUSED)
            self._at(self.now + self.s.pause.sample(self.rng), _Kind.PAUSE_END, index)
            return
        self._set_state(agent, AgentState.READY)
        self._serve_waiting(index)

    def _speaks(self, agent: _Agent, call: int) -> bool:
        return not agent.languages or self.languages[call] in agent.languages

    def _serve_waiting(self, index: int) -> None:
        agent = self.agents[index]
        for item in list(self.waiting):
            if self._down:
                return
            call, answered_at = item
            if not (self.now - answered_at <= GRACE_S or self.s.markovian):
                self.waiting.remove(item)  # past its patience this very instant
            elif self._speaks(agent, call):
                self.waiting.remove(item)
                self._connect(index, call, answered_at)
                return

    def _connect(self, index: int, call: int, answered_at: float,
                 talk: float | None = None) -> None:
        agent = self.agents[index]
        self.metrics.waits.append(self.now - agent.since)
        self._set_state(agent, AgentState.TALKING)
        agent.call = call
        moments = self.moments[call]
        moments.talk_started_at = self.now
        if talk is None:
            talk = self._talks.pop(call) if call in self._talks else self.s.talk.sample(self.rng)
            self.metrics.connects += 1
            self._person(call, abandoned=False)
            moments.connected_at = self.now
            self._hear(CallConnected(at=self.now, answered_at=answered_at))
        self._at(self.now + talk, _Kind.TALK_END, index)

    def _ready_agent(self, call: int) -> int | None:
        """The ready agent who speaks the debtor's language and fewest
        others (as routing ranks them), then the longest idle."""
        best: tuple[tuple[int, float], int] | None = None
        for index, agent in enumerate(self.agents):
            if agent.state is AgentState.READY and agent.logged_in and self._speaks(agent, call):
                rank = (len(agent.languages), agent.since)
                if best is None or rank < best[0]:
                    best = (rank, index)
        return None if best is None else best[1]

    # -- calls ----------------------------------------------------------
    def _dial(self, language: str) -> None:
        s, rng = self.s, self.rng
        if self.fates is not None and self._next_call >= len(self.fates):
            return  # no lead left to dial
        call = self._next_call
        self._next_call += 1
        self.languages.append(language)
        self.dialing[call] = self.now
        self.metrics.dials += 1
        fraction = min(1.0, (self.now - self._shift_start) / (s.shift_hours * 3600.0))
        live = s.live_rate(fraction)
        if self.fates is not None:
            result, delay = self._fated(call, self.fates[call])
            self._at(self.now + delay, _Kind.RESOLVE, call * 8 + list(DialResult).index(result))
            return
        draw = rng.random()
        if s.markovian:
            result = DialResult.LIVE if draw < live else DialResult.NO_ANSWER
            delay = float(rng.exponential(s.resolve_mean))
        elif draw < live:
            result, delay = DialResult.LIVE, s.answer_delay.sample(rng)
        elif draw < live + s.machine:
            result, delay = DialResult.MACHINE, s.answer_delay.sample(rng)
        elif draw < live + s.machine + s.busy:
            result, delay = DialResult.BUSY, s.reject_delay.sample(rng)
        elif draw < live + s.machine + s.busy + s.failed:
            result, delay = DialResult.FAILED, s.reject_delay.sample(rng)
        else:
            result, delay = DialResult.NO_ANSWER, s.ring_timeout
        if result in (DialResult.LIVE, DialResult.MACHINE) and delay >= s.ring_timeout \
                and not s.markovian:
            result, delay = DialResult.NO_ANSWER, s.ring_timeout
        self._at(self.now + delay, _Kind.RESOLVE, call * 8 + list(DialResult).index(result))

    def _fated(self, call: int, fate: Fate) -> tuple[DialResult, float]:
        """The result of a call meeting fate, and how long it rings first
        (the scenario's delays)."""
        if fate.result is DialResult.LIVE:
            self._talks[call] = float(fate.talk_s)
            return fate.result, self.s.answer_delay.sample(self.rng)
        if fate.result in (DialResult.BUSY, DialResult.FAILED):
            return fate.result, self.s.reject_delay.sample(self.rng)
        return DialResult.NO_ANSWER, self.s.ring_timeout

    def _resolve(self, ref: int) -> None:
        call, result = ref // 8, list(DialResult)[ref % 8]
        dialed_at = self.dialing.pop(call)
        s, rng = self.s, self.rng
        heard = result
        if result is DialResult.LIVE and rng.random() < s.amd_false_positive:
            heard = DialResult.MACHINE  # a person AMD hung up on
            self.metrics.amd_false_positives += 1
            self._person(call, abandoned=True)
        elif result is DialResult.MACHINE and rng.random() < s.amd_false_negative:
            heard = DialResult.LIVE  # a machine AMD let through
        self.moments[call] = CallMoments(dialed_at=dialed_at, resolved_at=self.now, result=heard)
        self._hear(CallResolved(at=self.now, dialed_at=dialed_at, result=heard))
        if heard is not DialResult.LIVE:
            return
        self.moments[call].answered_at = self.now
        if self._down:  # no dialer to connect it (or hear of it)
            if result is DialResult.LIVE:
                self.metrics.live_answers += 1
                self.metrics.abandoned += 1
                self._person(call, abandoned=True)
            return
        index = self._ready_agent(call)
        if result is DialResult.MACHINE:
            if index is not None:  # the agent hears a machine and moves on
                self._connect(index, call, self.now, talk=s.machine_talk)
            return
        self.metrics.live_answers += 1
        if index is not None:
            self._connect(index, call, self.now)
        else:
            self.waiting.append((call, self.now))
            patience = float(rng.exponential(GRACE_S)) if s.markovian else GRACE_S
            self._at(self.now + patience, _Kind.PATIENCE, call)

    def _patience_over(self, call: int) -> None:
        for item in self.waiting:
            if item[0] == call:
                self.waiting.remove(item)
                self.metrics.abandoned += 1
                self._person(call, abandoned=True)
                self.moments[call].abandoned_at = self.now
                self._hear(CallAbandoned(at=self.now, answered_at=item[1]))
                return

    # -- the policy -----------------------------------------------------
    def _snapshot(self) -> Snapshot:
        return Snapshot(
            now=self.now,
            agents=tuple(a.view for a in self.agents if a.logged_in),
            dialing=tuple(self.dialing.values()),
            waiting=tuple(answered for _, answered in self.waiting),
        )

    def _pools(self) -> list[tuple[str, Snapshot]]:
        """Each pool's language and snapshot: one pool of everyone ("": no
        language chosen) without languages or when dialing language-blind."""
        if not self.s.debtor_languages or not self.by_pool:
            return [("", self._snapshot())]
        waiting = [PoolCall(answered, self.languages[call]) for call, answered in self.waiting]
        dialing = [PoolCall(dialed, self.languages[call]) for call, dialed in self.dialing.items()]
        agents = [SkilledAgent(a.view, a.languages) for a in self.agents if a.logged_in]
        return [(pool.language, pool.snapshot) for pool in
                split(self.now, agents, dialing, waiting, self.s.debtor_languages)]

    def _debtor_language(self, pool: str) -> str:
        if pool or not self.s.debtor_languages:
            return pool
        shares = self.s.debtor_languages
        draw, total = self.rng.random(), 0.0
        for share in shares:
            total += share.share
            if draw < total:
                return share.language
        return shares[-1].language

    def _ask_policy(self) -> None:
        if not self._shift_open or self._down:
            return
        for pool, snapshot in self._pools():
            started = time.perf_counter_ns()
            launch = self.policy.decide(snapshot)
            self.metrics.decision_ns.append(time.perf_counter_ns() - started)
            for _ in range(max(0, int(launch))):
                self._dial(self._debtor_language(pool))

    # -- the shift ------------------------------------------------------
    def _schedule_days(self) -> None:
        s = self.s
        for day in range(s.days):
            start = day * DAY_S + s.start_hour * 3600.0
            end = start + s.shift_hours * 3600.0
            for index in range(s.agents):
                offset = self.rng.uniform(0, s.login_stagger_minutes * 60.0)
                self._at(start + offset, _Kind.LOGIN, index)
                self._at(end - offset, _Kind.LOGOUT, index)
                if s.pause_per_hour > 0:
                    t = start + offset + self.rng.exponential(3600.0 / s.pause_per_hour)
                    while t < end - offset:
                        self._at(t, _Kind.PAUSE_START, index)
                        t += self.rng.exponential(3600.0 / s.pause_per_hour)
            tick = start
            while tick < end:
                self._at(tick, _Kind.TICK, day)
                tick += TICK_S

    def run(self) -> RunMetrics:
        """Run every day of the scenario and return what was measured."""
        self._schedule_days()
        if self.restart is not None:
            self._at(self.restart.at, _Kind.DIALER_STOP)
            self._at(self.restart.at + self.restart.gap_s, _Kind.DIALER_START)
        s = self.s
        self.metrics.span_start = s.start_hour * 3600.0
        self.metrics.span_end = (s.days - 1) * DAY_S + (s.start_hour + s.shift_hours) * 3600.0
        while self._heap:
            self.now, _, kind, ref = heapq.heappop(self._heap)
            day_start = (self.now // DAY_S) * DAY_S + s.start_hour * 3600.0
            last_dial = day_start + s.shift_hours * 3600.0 - LAST_DIAL_S
            self._shift_open = day_start <= self.now < last_dial
            if self._shift_open:
                self._shift_start = day_start
            if kind is _Kind.RESOLVE:
                self._resolve(ref)
            elif kind is _Kind.TALK_END:
                agent = self.agents[ref]
                self.moments[agent.call].talk_ended_at = self.now
                self._hear(TalkEnded(at=self.now, seconds=self.now - agent.since))
                if s.wrap.mean > 0:
                    self._set_state(agent, AgentState.WRAP_UP)
                    self._at(self.now + s.wrap.sample(self.rng), _Kind.WRAP_END, ref)
                else:
                    self._become_free(ref)
            elif kind is _Kind.WRAP_END:
                agent = self.agents[ref]
                self.moments[agent.call].wrap_up_ended_at = self.now
                self._hear(WrapUpEnded(at=self.now, seconds=self.now - agent.since))
                self._become_free(ref)
            elif kind is _Kind.PATIENCE:
                self._patience_over(ref)
            elif kind is _Kind.PAUSE_START:
                agent = self.agents[ref]
                if agent.logged_in and agent.state is AgentState.READY:
                    agent.pause_pending = True
                    self._become_free(ref)
                elif agent.logged_in:
                    agent.pause_pending = True
            elif kind is _Kind.PAUSE_END:
                if self.agents[ref].logged_in:
                    self._become_free(ref)
            elif kind is _Kind.DIALER_STOP:
                self._history = heard(self.moments.values())
                self._stopped, self._down = self.policy, True
            elif kind is _Kind.DIALER_START and self.restart and self._stopped:
                self.policy = self.restart.make(self._history, self._stopped)
                self._down = False
                for index, agent in enumerate(self.agents):  # free agents take waiting calls
                    if agent.logged_in and agent.state is AgentState.READY:
                        self._serve_waiting(index)
            elif kind is _Kind.LOGIN:
                agent = self.agents[ref]
                agent.logged_in = True
                agent.since = self.now
                agent.view = AgentView(agent.state, self.now)
                self._become_free(ref)
            elif kind is _Kind.LOGOUT:
                agent = self.agents[ref]
                if agent.state in (AgentState.READY, AgentState.PAUSED):
                    self._set_state(agent, AgentState.PAUSED)
                    agent.logged_in = False
                else:
                    agent.logout_pending = True
            # The policy sees a moment whole: asked between two events of
            # the same instant (a talk ending as calls placed 0.35 s ago
            # answer), it would take calls about to answer for unanswered
            # ones past their live delay, and dial again for the same agents.
            if not self._heap or self._heap[0][0] > self.now:
                self._ask_policy()
        return self.metrics


def simulate(scenario: Scenario, policy: PacingPolicy) -> RunMetrics:
    """Run policy through scenario."""
    return Simulation(scenario, policy).run()
