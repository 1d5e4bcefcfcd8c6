"""A PI controller on the abandon rate: the second baseline. It steers a
dial level (calls in progress per ready-or-busy agent) so that the measured
abandon rate sits at the set-point."""

from __future__ import annotations

from pacing.model import CallAbandoned, CallConnected, PacingEvent, Snapshot

UPDATE_EVERY_S = 15.0


class PiAbandon:
    def __init__(self, target: float = 0.03, setpoint: float = 0.85, kp: float = 4.0,
                 ki: float = 0.02, window: int = 300, max_level: float = 3.0) -> None:
        self.setpoint = target * setpoint
        self.kp = kp
        self.ki = ki
        self.max_level = max_level
        self.name = f"pi kp={kp:g} ki={ki:g}"
        self.level = 1.0
        self.measured = 0.0
        self._decay = 1.0 / window
        self._next_update: float | None = None
        self._previous_error = 0.0

    def observe(self, event: PacingEvent) -> None:
        if isinstance(event, CallConnected | CallAbandoned):
            abandoned = float(isinstance(event, CallAbandoned))
            self.measured += self._decay * (abandoned - self.measured)

    def decide(self, snapshot: Snapshot) -> int:
        now = snapshot.now
        if self._next_update is None:
            self._next_update = now + UPDATE_EVERY_S
        elif now >= self._next_update:
            error = (self.setpoint - self.measured) / max(self.setpoint, 1e-9)
            # Velocity form: no integrator state to wind up against the clamp.
            self.level += self.kp * 0.01 * (error - self._previous_error) \
                + self.ki * UPDATE_EVERY_S * 0.01 * error
            self.level = min(max(self.level, 1.0), self.max_level)
            self._previous_error = error
            self._next_update = now + UPDATE_EVERY_S
        return max(0, round(self.level * (snapshot.ready + snapshot.talking))
                   - snapshot.calls_in_progress)
