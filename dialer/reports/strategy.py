"""The strategy report of calls (pure): what each ended call attempt came
to, the rules that say so (right-party contact, promise, kept promise),
and each cell's figures (dialer.reports.cells groups and renders them).
docs/reports.md defines every figure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from dialer.reports.cells import (
    Dimension,
    Figure,
    Filters,
    Report,
    amount,
    build_report,
    per_success,
    rate,
)

# Disposition codes an agent gives only after speaking with the debtor about
# the debt. Not WRONG_NUMBER (someone else), nor OPT_OUT and CALLBACK,
# which whoever answers the phone may ask for.
RIGHT_PARTY_CODES = frozenset({"PTP", "PAID", "RPC", "REFUSED", "DISPUTE"})
PROMISE_CODE = "PTP"
# A self-service call whose debtor proved the account by keying its number.
SELF_SERVED = "self_served"
# An attempt the gate refused at the last moment: no call was placed, so
# it cost nothing and is no attempt here.
NOT_PLACED = "not_placed"


@dataclass(frozen=True)
class Attempt:
    """One ended attempt (a call placed), as the store read it: its
    segment (and its account's portfolio), when it started in the debtor's time (hour 0-23, ISO weekday
    1-7), the campaign's dial mode when it was placed, its result, the
    disposition standing on it (the latest, a correction included), the
    promises made on the call (promise rows), how many of those were due
    by the report's time and how many of those were kept, and the money
    the call collected (approved charges taken on it)."""

    segment: str
    local_hour: int
    weekday: int
    dial_mode: str
    result: str
    portfolio: str = "none"
    disposition: str | None = None
    promises: int = 0
    promises_due: int = 0
    promises_kept: int = 0
    collected: Decimal = Decimal(0)

    @property
    def promised(self) -> bool:
        """An agent's PTP disposition, or a promise recorded on the call."""
        return self.disposition == PROMISE_CODE or self.promises > 0

    @property
    def right_party(self) -> bool:
        """The debtor was reached: self-service proved the account, an
        agent's disposition only the debtor can earn, or a promise or a
        payment made on the call."""
        return (self.result == SELF_SERVED or self.disposition in RIGHT_PARTY_CODES
                or self.promised or self.collected > 0)


# What a calls report is split by unless told, and what it may be split by.
CALL_DIMENSIONS = (Dimension.SEGMENT, Dimension.HOUR, Dimension.WEEKDAY, Dimension.DIAL_MODE)
CALL_CHOICES = (Dimension.PORTFOLIO, *CALL_DIMENSIONS)
# The table's column titles.
HEADINGS = {"right_party_contact": "right-party contact", "promise": "promise (of contacts)",
            "kept_promise": "kept (of due)", "collected": "collected per attempt (total)",
            "attempts_per_contact": "attempts/contact",
            "attempts_per_promise": "attempts/promise"}


def attempt_figures(attempts: Sequence[Attempt], seed_key: str) -> tuple[Figure, ...]:
    """A cell's figures from its attempts: right-party contacts of
    attempts, promises of contacts, kept of the promises due, money
    collected per attempt, attempts per contact and per promise."""
    contacts = sum(a.right_party for a in attempts)
    promised = sum(a.promised for a in attempts)
    return (rate("right_party_contact", contacts, len(attempts)),
            rate("promise", promised, contacts),
            rate("kept_promise", sum(a.promises_kept for a in attempts),
                 sum(a.promises_due for a in attempts)),
            amount("collected", [a.collected for a in attempts], seed_key),
            per_success("attempts_per_contact", contacts, len(attempts)),
            per_success("attempts_per_promise", promised, len(attempts)))


def calls_report(attempts: Iterable[Attempt], dimensions: Sequence[Dimension],
                 filters: Filters, as_of: datetime, currency: str | None) -> Report:
    """The strategy report of call attempts."""
    return build_report("calls", "attempts", attempts, dimensions, attempt_figures, filters,
                        as_of, currency)
