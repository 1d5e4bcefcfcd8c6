"""Which leads to call first: expected value now = balance x chance to pay x
chance of contact at the debtor's local hour. The first two are the lead's
`value` column (balance x (1 - risk score)); the contact rate by local hour
is learned here from the campaign's own attempts (a Beta prior per hour
keeps a cold start sane)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

HOURS = 24
PRIOR_CONTACT_RATE = 0.25
PRIOR_WEIGHT = 20.0  # attempts' worth of belief in the prior


@dataclass(frozen=True)
class HourTally:
    """Attempts made at one local hour, and how many reached the debtor."""

    local_hour: int
    attempts: int
    contacts: int


def contact_rates(tallies: Iterable[HourTally], prior_rate: float = PRIOR_CONTACT_RATE,
                  prior_weight: float = PRIOR_WEIGHT) -> tuple[float, ...]:
    """Posterior mean contact rate for each local hour 0..23."""
    attempts = [0] * HOURS
    contacts = [0] * HOURS
    for tally in tallies:
        if not 0 <= tally.local_hour < HOURS:
            raise ValueError(f"local_hour {tally.local_hour} is not 0..23")
        attempts[tally.local_hour] += tally.attempts
        contacts[tally.local_hour] += tally.contacts
    return tuple((prior_rate * prior_weight + contacts[h]) / (prior_weight + attempts[h])
                 for h in range(HOURS))

