"""VICIdial's adaptive dial-level family, written from its description (no
code copied): the main baseline Recobro has to beat."""

from __future__ import annotations

from collections import deque
from enum import Enum

from pacing.model import CallAbandoned, CallConnected, PacingEvent, Snapshot

ADAPT_EVERY_S = 15.0
DIAL_EVERY_S = 2.5
MIN_LEVEL = 1.0


class DropMode(Enum):
    HARD_LIMIT = "hard_limit"  # over the target: dial level 1
    AVERAGE = "average"  # over the target: halve the level each cycle
    TAPERED = "tapered"  # allow more early in the shift, taper to the target at its end


class VicidialAdaptive:
    """Every 15 s: diff = mean ready agents - mean answered calls waiting over
    the last 15 s; m = (diff + T) / logged-in agents; k = 1 + I/100 if m >= 0
    else |I/100 - 1|; L <- clamp(L * (1 + m k), 1, max_level). Halve L when
    more than half of the last minute's answered calls dropped; once the day
    has over 50 calls and its drop rate exceeds the target, apply the mode.
    Every 2.5 s dial round(L * (ready + talking)) - calls in progress, where
    calls in progress count calls ringing, waiting and talking (as VICIdial
    counts its live calls), so that level 1 is progressive dialing."""

    def __init__(self, mode: DropMode = DropMode.AVERAGE, intensity: float = 0.0,
                 diff_target: float = 0.0, drop_target: float = 0.03,
                 max_level: float = 3.0, shift_start: float = 0.0,
                 shift_seconds: float = 8 * 3600.0) -> None:
        self.mode = mode
        self.intensity = intensity
        self.diff_target = diff_target
        self.drop_target = drop_target
        self.max_level = max_level
        self.shift_start = shift_start
        self.shift_seconds = shift_seconds
        self.name = f"vicidial {mode.value} I={intensity:g} T={diff_target:g}"
        self.level = MIN_LEVEL
        self._next_adapt: float | None = None
        self._next_dial = 0.0
        self._ready_sum = 0.0
        self._waiting_sum = 0.0
        self._samples = 0
        self._last_minute: deque[tuple[float, bool]] = deque()
        self._day = -1
        self._day_answered = 0
        self._day_dropped = 0

    def observe(self, event: PacingEvent) -> None:
        if isinstance(event, CallConnected | CallAbandoned):
            dropped = isinstance(event, CallAbandoned)
            day = int(event.at // 86400)
            if day != self._day:
                self._day, self._day_answered, self._day_dropped = day, 0, 0
            self._day_answered += 1
            self._day_dropped += dropped
            self._last_minute.append((event.at, dropped))

    def _adapt(self, snapshot: Snapshot) -> None:
        now = snapshot.now
        if self._samples and snapshot.logged_in:
            diff = (self._ready_sum - self._waiting_sum) / self._samples
            m = (diff + self.diff_target) / snapshot.logged_in
            i = self.intensity / 100.0
            k = 1.0 + i if m >= 0 else abs(i - 1.0)
            self.level *= 1.0 + m * k
        self._ready_sum = self._waiting_sum = 0.0
        self._samples = 0
        while self._last_minute and self._last_minute[0][0] < now - 60.0:
            self._last_minute.popleft()
        drops = sum(1 for _, dropped in self._last_minute if dropped)
        if self._last_minute and drops > len(self._last_minute) / 2:
            self.level /= 2
        if self._day_answered > 50:
            rate = self._day_dropped / self._day_answered
            if self.mode is DropMode.HARD_LIMIT and rate > self.drop_target:
                self.level = MIN_LEVEL
            elif self.mode is DropMode.AVERAGE and rate > self.drop_target:
                self.level /= 2
            elif self.mode is DropMode.TAPERED:
                elapsed = ((now - self.shift_start) % 86400) / self.shift_seconds
                allowed = self.drop_target * (1.0 + max(0.0, 1.0 - elapsed))
                if rate > allowed:
                    self.level /= 2
        self.level = min(max(self.level, MIN_LEVEL), self.max_level)

    def decide(self, snapshot: Snapshot) -> int:
        self._ready_sum += snapshot.ready
        self._waiting_sum += len(snapshot.waiting)
        self._samples += 1
        if self._next_adapt is None:
            self._next_adapt = snapshot.now + ADAPT_EVERY_S
        elif snapshot.now >= self._next_adapt:
            self._adapt(snapshot)
            self._next_adapt = snapshot.now + ADAPT_EVERY_S
        if snapshot.now < self._next_dial:
            return 0
        self._next_dial = snapshot.now + DIAL_EVERY_S
        return max(0, round(self.level * (snapshot.ready + snapshot.talking))
                   - snapshot.calls_in_progress)
