"""Recobro's predictive policy.

At each decision it looks ahead over the spread of answer times: for
horizons at quantiles of the learnt time from dial to a live answer, it
knows from the estimators

- agents free by then: the ready ones, plus each talking or wrap-up agent
  with the chance to be free (with the 2-second grace) given how long they
  have already been at it;
- live answers by then: calls waiting now, each ringing call with its chance
  to be answered live given how long it has rung, and each new call.

Answers minus free agents is approximated as normal, which gives the
expected abandons for k new calls; the tightest horizon decides. The k-th
call is launched while its marginal expected abandons stay under lambda
times its chance to be answered live: the Lagrangian form of "most connects
subject to abandons". lambda is the closed loop: a stochastic-approximation
step on every live answer (larger while the regulator's window holds few)
moves it so that the measured abandon rate sits at the set-point, and a
brake falls back to progressive dialing if the regulator's window gets close
to the cap. The set-point is the cap less a margin for the window's noise;
with abandon_budget (an option, not yet the default), the regulator's
window as a budget: the abandons every window that ends by tomorrow's end
of dialing still allows, less a reserve for the noise still to land, spent
evenly over the live answers expected until it ends. Until some talk
times are known it dials progressively; while few are known, the talks
still going on count as censored samples (Kaplan-Meier), as the first talks to end are the
short ones. A dialer that restarts hands it the campaign's recent history
and the closed loop's last state (warm_start) instead of starting from zero."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from enum import Enum

import numpy as np

from pacing.estimators import AnswerRate, EmpiricalDuration, expected_shortfall
from pacing.model import (
    AgentState,
    CallAbandoned,
    CallConnected,
    CallResolved,
    DialResult,
    PacingEvent,
    Snapshot,
    TalkEnded,
    WrapUpEnded,
)

GRACE_S = 2.0  # the 2-second rule
HORIZON_QUANTILES = (0.25, 0.5, 0.75, 0.95)  # of the time from dial to a live answer
COLD_START_CALLS = 20  # talk times to learn before dialing ahead of agents
# Below this many ended talks, the talks going on count as censored samples.
CENSORED_UNTIL = 400


class Regulator(Enum):
    FCC = "fcc"  # 3% of live answers per campaign over 30 days
    OFCOM = "ofcom"  # 3% per 24 h, estimated AMD false positives added


WINDOW_S = {Regulator.FCC: 30 * 86400.0, Regulator.OFCOM: 86400.0}
HOUR_S = 3600.0  # the optional short-window cap's window; the budget's pace and buckets
DAY_S = 86400.0
SHORT_WINDOW_MIN_LIVE = 20  # live answers in it before its cap may brake
EARLY_ANSWERS = 40.0  # live answers over which the loop's first steps are larger
PACE_MIN_S = 60.0  # the shortest span the pace of live answers is measured over
# The regulator's window keeps its outcomes a minute to an entry: a 30-day
# window of a busy floor, one entry an outcome, held millions for good.
WINDOW_BUCKET_S = 60.0


class Predictive:
    name = "recobro predictive"

    def __init__(self, cap: float = 0.03, margin_z: float = 2.0,
                 regulator: Regulator = Regulator.OFCOM, day_end_s: float = 21 * 3600.0,
                 amd_false_positive_rate: float = 0.0, prior_answer_rate: float = 0.25,
                 prior_talk_s: float = 180.0, prior_wrap_s: float = 1.0,
                 prior_live_delay_s: float = 15.0, prior_other_delay_s: float = 25.0,
                 initial_lambda: float = 0.01, gain: float = 0.2,
                 max_calls_per_agent: float = 4.0, hour_cap: float | None = None,
                 abandon_budget: bool = False) -> None:
        self.cap = cap
        # The set-point from the window's budget (budget_rate) instead of a
        # fixed margin: an option until no 24 h window of the bench goes over
        # the cap with it (docs/pacing.md).
        self.abandon_budget = abandon_budget
        self.margin_z = margin_z
        self.regulator = regulator
        self.day_end_s = 0.0
        self.dials_until(day_end_s)
        self.amd_fp = amd_false_positive_rate  # share of people AMD hangs up on
        self.answer_rate = AnswerRate(prior_answer_rate)
        self.talk = EmpiricalDuration(prior_talk_s)
        self.wrap = EmpiricalDuration(prior_wrap_s)
        self.live_delay = EmpiricalDuration(prior_live_delay_s)
        self.other_delay = EmpiricalDuration(prior_other_delay_s)
        self.log_lambda = math.log(initial_lambda)
        self.gain = gain
        self.max_calls_per_agent = max_calls_per_agent
        # The window's outcomes by minute, [minute, last at, live, abandoned]:
        # each minute's leave it once its last one has (up to a minute late).
        self._window: deque[list[float]] = deque()
        self._window_live = 0.0
        self._window_abandoned = 0.0
        # The window's live answers and abandons by hour of the campaign's
        # clock, [hour, live, abandoned]: when each leaves the window.
        self._hours: deque[list[float]] = deque()
        self._heard_at = -math.inf  # the last outcome heard
        self._dialing_since = -math.inf  # the first outcome after the last pause of an hour
        # An operator's own cap on any hour (e.g. 5%), on top of the regulator's.
        self.hour_cap = hour_cap
        # The last hour's outcomes: its pace of live answers, and the hour cap.
        self._hour: deque[tuple[float, float, float]] = deque()
        self._hour_live = 0.0
        self._hour_abandoned = 0.0

    # -- learning -------------------------------------------------------
    def _count(self, at: float, live: float, abandoned: float) -> None:
        window = WINDOW_S[self.regulator]
        minute = math.floor(at / WINDOW_BUCKET_S)
        if self._window and self._window[-1][0] >= minute:
            # This minute's, or one heard late (another dialer's): the last entry's.
            last = self._window[-1]
            last[1] = max(last[1], at)
            last[2] += live
            last[3] += abandoned
        else:
            self._window.append([minute, at, live, abandoned])
        self._window_live += live
        self._window_abandoned += abandoned
        while self._window and self._window[0][1] < at - window:
            _, _, old_live, old_abandoned = self._window.popleft()
            self._window_live -= old_live
            self._window_abandoned -= old_abandoned
        hour = math.floor(at / HOUR_S)
        if not self._hours or self._hours[-1][0] != hour:
            self._hours.append([hour, 0.0, 0.0])
        self._hours[-1][1] += live
        self._hours[-1][2] += abandoned
        while (self._hours[0][0] + 1) * HOUR_S <= at - window:
            self._hours.popleft()
        if at - self._heard_at > HOUR_S:
            self._dialing_since = at
        self._heard_at = max(self._heard_at, at)
        self._hour.append((at, live, abandoned))
        self._hour_live += live
        self._hour_abandoned += abandoned
        while self._hour and self._hour[0][0] < at - HOUR_S:
            _, old_live, old_abandoned = self._hour.popleft()
            self._hour_live -= old_live
            self._hour_abandoned -= old_abandoned

    def observe(self, event: PacingEvent) -> None:
        match event:
            case CallResolved(at=at, dialed_at=dialed_at, result=result):
                live = result is DialResult.LIVE
                self.answer_rate.record(dialed_at, live)
                (self.live_delay if live else self.other_delay).record(at - dialed_at)
                if live and self.amd_fp and self.regulator is Regulator.OFCOM:
                    # For each person AMD let through, fp/(1-fp) people it hung
                    # up on are estimated and counted as abandoned (Ofcom).
                    hidden = self.amd_fp / (1.0 - self.amd_fp)
                    self._count(at, hidden, hidden)
                    self.log_lambda += self.step * hidden * (self.target - 1.0)
            case CallConnected(at=at):
                self._count(at, 1.0, 0.0)
                if not self.braking:  # no credit earned while the brake holds
                    self.log_lambda += self.step * self.target
            case CallAbandoned(at=at):
                self._count(at, 1.0, 1.0)
                self.log_lambda -= self.step * (1.0 - self.target)
            case TalkEnded(seconds=seconds):
                self.talk.record(seconds)
            case WrapUpEnded(seconds=seconds):
                self.wrap.record(seconds)
        self.log_lambda = min(max(self.log_lambda, math.log(1e-4)), math.log(10.0))

    def warm_start(self, heard: Iterable[PacingEvent], log_lambda: float | None) -> None:
        """Learn from what the campaign's pacing heard before (in the order
        heard: the estimators, the regulator's window), then take up the
        closed loop where it was (None: none was saved)."""
        for event in heard:
            self.observe(event)
        if log_lambda is not None:
            self.log_lambda = min(max(log_lambda, math.log(1e-4)), math.log(10.0))

    @property
    def window_live(self) -> float:
        """Live answers in the regulator's window (AMD's estimated false
        positives among them under Ofcom)."""
        return self._window_live

    @property
    def window_abandoned(self) -> float:
        """Abandons in the regulator's window (AMD's estimated false
        positives among them under Ofcom)."""
        return self._window_abandoned

    @property
    def window_abandon_rate(self) -> float:
        return self._window_abandoned / self._window_live if self._window_live else 0.0

    @property
    def target(self) -> float:
        """The set-point, never above 90% of the cap (the brake, at 95%, must
        stay the exception). By default the cap less a margin for the noise
        of a window's rate (margin_z standard errors at the window's number
        of live answers; small teams aim lower); with abandon_budget, the
        abandon rate the regulator's window still allows for the live answers
        expected until the day's dialing ends (budget_rate)."""
        if self.abandon_budget:
            return min(max(self.budget_rate(self._heard_at), 0.0), 0.9 * self.cap)
        answers = max(self._window_live, 200.0)
        margin = self.margin_z * math.sqrt(self.cap * (1 - self.cap) / answers)
        return max(self.cap / 2, min(self.cap - margin, 0.9 * self.cap))

    def budget_rate(self, now: float) -> float:
        """The abandons the regulator's window still allows, spent evenly over
        the live answers expected until the window ends, as a rate. Every
        window that ends from now to the end of tomorrow's dialing holds the
        outcomes of the window so far that are still in it at its end (on a
        rolling window, older ones leave and free their share) and the
        answers still to come (today's until today's dialing ends, then
        tomorrow's, at the last hour's pace); its budget is the cap on all of
        them, less the abandons already in it and a reserve of margin_z
        standard errors for the noise still to land, so no window lands over
        the cap by chance. So today's last answers, which stay in windows
        that end tomorrow, are not spent on a morning those windows do not
        hold. The tightest window sets the rate. Windows are checked where an
        hour of old outcomes leaves (that hour's abandons count until all of
        it has left, its live answers only while all of it is in)."""
        if not self._hours:
            return self.cap
        window = WINDOW_S[self.regulator]
        end = self._day_end(now)
        # Today's last answers stay in windows that end tomorrow: those are
        # checked too, tomorrow dialing again from when today's dialing began
        # (not before today's ends: a campaign may dial round the clock).
        next_start, next_end = max(self._dialing_since + DAY_S, end), end + DAY_S
        hours = np.asarray(self._hours)
        starts, live, abandoned = hours[:, 0] * HOUR_S, hours[:, 1], hours[:, 2]
        ends = starts + HOUR_S + window  # when each hour has wholly left the window
        checked = np.append(ends[(ends > now) & (ends < next_end)], (end, next_end))
        whole = starts[None, :] >= checked[:, None] - window
        some = starts[None, :] + HOUR_S > checked[:, None] - window
        old_live = (whole * live).sum(axis=1)
        old_abandoned = (some * abandoned).sum(axis=1)
        dialing_s = (np.minimum(checked, end) - now
                     + np.clip(np.minimum(checked, next_end) - next_start, 0.0, None))
        coming = np.maximum(self._live_pace(now) * dialing_s, 1.0)
        budget = (self.cap * (old_live + coming) - old_abandoned
                  - self.margin_z * np.sqrt(self.cap * (1 - self.cap) * coming))
        return float((budget / coming).min())

    def dials_until(self, day_end_s: float) -> None:
        """When the campaign's dialing ends each day, in seconds after
        midnight on the campaign's clock (the dialer gives it from the
        calling window of its debtors' zones; it may fall after the clock's
        midnight)."""
        self.day_end_s = day_end_s % DAY_S

    def _day_end(self, now: float) -> float:
        """When the day's dialing ends: day_end_s today (tomorrow's clock day
        if today's dialing began after it: an end past the clock's
        midnight), or an hour from now once past it (a campaign dialing late
        plans an hour at a time)."""
        today = math.floor(now / DAY_S) * DAY_S + self.day_end_s
        if today < self._dialing_since:
            today += DAY_S
        return today if today - now >= HOUR_S else now + HOUR_S


    def _live_pace(self, now: float) -> float:
        """Live answers per second over the last hour of dialing."""
        span = min(HOUR_S, max(now - self._dialing_since, PACE_MIN_S))
        return self._hour_live / span

    @property
    def step(self) -> float:
        """The closed loop's step per live answer: gain, larger while the
        regulator's window holds few live answers (a new campaign), so lambda
        reaches its level within the first hour, then settles to gain (with
        abandon_budget; gain alone otherwise)."""
        if not self.abandon_budget:
            return self.gain
        return self.gain * max(1.0, EARLY_ANSWERS / (self._window_live + 1.0))

    @property
    def braking(self) -> bool:
        """The regulator's window is close to the cap, or the last hour close
        to the operator's hour_cap (once it holds enough live answers to
        say): dial progressively."""
        if self._window_live >= 50 and self.window_abandon_rate > 0.95 * self.cap:
            return True
        return (self.hour_cap is not None and self._hour_live >= SHORT_WINDOW_MIN_LIVE
                and self._hour_abandoned > 0.95 * self.hour_cap * self._hour_live)

    # -- deciding -------------------------------------------------------
    def _free_chances(self, snapshot: Snapshot, horizons: np.ndarray) -> tuple[int, np.ndarray]:
        """Ready agents, and for each busy agent (columns) its chance to be
        free within each horizon (rows)."""
        ready = 0
        talking: list[float] = []
        wrapping: list[float] = []
        now = snapshot.now
        for agent in snapshot.agents:
            if agent.state is AgentState.READY:
                ready += 1
            elif agent.state is AgentState.TALKING:
                talking.append(now - agent.since)
            elif agent.state is AgentState.WRAP_UP:
                wrapping.append(now - agent.since)
        wrap_mean = self.wrap.mean()
        talk_elapsed, wrap_elapsed = np.asarray(talking), np.asarray(wrapping)
        talk = (self.talk.with_censored(talk_elapsed) if self.talk.count < CENSORED_UNTIL
                else self.talk)
        chances = np.array([np.concatenate([
            talk.ends_within(talk_elapsed, max(0.0, h - wrap_mean)),
            self.wrap.ends_within(wrap_elapsed, h)]) for h in horizons])
        return ready, chances

    def _answer_chances(self, snapshot: Snapshot, horizons: np.ndarray, p: float) -> np.ndarray:
        """For each ringing call (columns), its chance to be answered live
        within each horizon (rows), given how long it has rung."""
        if not snapshot.dialing:
            return np.empty((len(horizons), 0))
        elapsed = snapshot.now - np.asarray(snapshot.dialing)
        live_alive = self.live_delay.survival(elapsed)
        unresolved = p * live_alive + (1 - p) * self.other_delay.survival(elapsed)
        later = self.live_delay.survival(elapsed[None, :] + horizons[:, None])
        with np.errstate(divide="ignore", invalid="ignore"):
            chance = np.where(unresolved > 0, p * (live_alive - later) / unresolved, 0.0)
        return np.clip(chance, 0.0, 1.0)

    def decide(self, snapshot: Snapshot) -> int:
        in_progress = len(snapshot.dialing) + len(snapshot.waiting)
        progressive = max(0, snapshot.ready - in_progress)
        if self.braking or self.talk.count < COLD_START_CALLS:
            return progressive  # near the cap, or nothing learnt yet
        limit = int(self.max_calls_per_agent * snapshot.logged_in) - in_progress
        if limit <= 0:
            return 0
        p = self.answer_rate.rate(snapshot.now)
        # Answers come over a spread of delays: check several horizons and
        # let the tightest one decide.
        horizons = self.live_delay.quantiles(HORIZON_QUANTILES)
        ready, free = self._free_chances(snapshot, horizons + GRACE_S)
        answers = self._answer_chances(snapshot, horizons, p)
        new_chance = p * (1.0 - self.live_delay.survival(horizons))  # per horizon
        k = np.arange(limit + 1)[None, :]
        mean = (len(snapshot.waiting) + answers.sum(axis=1, keepdims=True)
                + k * new_chance[:, None] - ready - free.sum(axis=1, keepdims=True))
        var = ((answers * (1 - answers)).sum(axis=1, keepdims=True)
               + (free * (1 - free)).sum(axis=1, keepdims=True)
               + k * (new_chance * (1 - new_chance))[:, None])
        marginal = np.diff(expected_shortfall(mean, var), axis=1).max(axis=0)
        allowed = math.exp(self.log_lambda) * p
        launch = int(np.count_nonzero(marginal <= allowed))
        return max(launch, progressive)
