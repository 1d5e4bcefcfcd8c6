"""The abandon rate as regulators count it: answered calls a live person
took (not a machine) that Recobro ended for want of an agent within 2 s,
over all calls a live person answered, per campaign, over the regulator's
window (Ofcom: 24 hours; FCC: 30 days). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from dialer.calls.outcome import AttemptResult

# A live person answered: an agent took the call, the debtor hung up before
# one could, or the debtor was abandoned (heard the safe-harbour message).
# A self-service campaign's calls (self_served, unverified) promised no
# agent: the rate, which measures calls meant for an agent, leaves them
# out of both counts (so they cannot dilute it either).
LIVE_ANSWERS = frozenset({AttemptResult.CONVERSATION, AttemptResult.HUNG_UP,
                          AttemptResult.ABANDONED})
CAP = 0.03  # FCC 47 CFR 64.1200(a)(7) and Ofcom's policy alike
WINDOWS = (("24 h", timedelta(hours=24)), ("30 days", timedelta(days=30)))


@dataclass(frozen=True)
class AbandonTally:
    """Live answers and abandoned calls over one window."""

    window: str
    live: int
    abandoned: int

    @property
    def rate(self) -> float | None:
        """abandoned / live, or None with no live answer yet."""
        return self.abandoned / self.live if self.live else None

    def __str__(self) -> str:
        if self.rate is None:
            return f"{self.window}: no live answers"
        return (f"{self.window}: {self.rate:.1%} ({self.abandoned} of {self.live} "
                "live answers)")
