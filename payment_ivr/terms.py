"""What a debtor may pay, from the campaign's rules passed in as data: the
full balance, a settlement (a share of the balance, paid today), an
instalment plan (N monthly payments, the first now) or a promise to pay on
a date they key. Pure: "today" is passed in."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum

MAX_INSTALMENTS = 24
MAX_AMOUNT = Decimal(10) ** 12  # more than any debt: a mistake, refused
MAX_PROMISE_DAYS = 180  # dates are keyed DDMM: further than this the year is ambiguous


@dataclass(frozen=True, order=True)
class Money:
    """An amount in minor units (cents) of an ISO 4217 currency with two
    decimals, as gateways take it."""

    cents: int
    currency: str = "USD"

    @classmethod
    def parse(cls, amount: str, currency: str = "USD") -> Money:
        """Money from a decimal string such as "1234.50"; ValueError when
        it is not a non-negative amount (below 10^12) with at most two
        decimals."""
        try:
            value = Decimal(amount)
        except InvalidOperation:
            raise ValueError(f"not an amount: {amount!r}") from None
        if (not value.is_finite() or not 0 <= value < MAX_AMOUNT
                or value != value.quantize(Decimal("0.01"))):
            raise ValueError(f"not an amount: {amount!r}")
        return cls(int(value * 100), currency)

    @property
    def units(self) -> int:
        """The whole units (dollars)."""
        return self.cents // 100

    @property
    def fraction(self) -> int:
        """The cents beyond the whole units."""
        return self.cents % 100

    def __str__(self) -> str:
        return f"{self.units}.{self.fraction:02d} {self.currency}"


@dataclass(frozen=True)
class Instalment:
    """One payment of a plan: its amount, due on a date."""

    due: date
    amount: Money


class Option(Enum):
    """What the debtor chooses to do, and the key that chooses it."""

    FULL = "1"
    SETTLEMENT = "2"
    PLAN = "3"
    PROMISE = "4"


@dataclass(frozen=True)
class PaymentOptions:
    """What the campaign's rules offer this debtor: always the full balance;
    a settlement of settlement_percent of it if paid now; instalments
    monthly payments; a promise to pay within promise_days."""

    balance: Money
    settlement_percent: int | None = None
    instalments: int | None = None
    promise_days: int | None = None

    def __post_init__(self) -> None:
        if self.balance.cents <= 0:
            raise ValueError("nothing to pay: the balance is not positive")
        if self.settlement_percent is not None and not 1 <= self.settlement_percent <= 99:
            raise ValueError("settlement_percent must be 1-99")
        if self.instalments is not None and not 2 <= self.instalments <= MAX_INSTALMENTS:
            raise ValueError(f"instalments must be 2-{MAX_INSTALMENTS}")
        if self.promise_days is not None and not 0 <= self.promise_days <= MAX_PROMISE_DAYS:
            raise ValueError(f"promise_days must be 0-{MAX_PROMISE_DAYS}")

    def settlement(self) -> Money | None:
        """The settlement amount, when one is offered (and comes to a cent
        or more). Rounded down to the cent: a rounding never goes against
        the debtor."""
        if self.settlement_percent is None:
            return None
        cents = self.balance.cents * self.settlement_percent // 100
        return Money(cents, self.balance.currency) if cents > 0 else None

    def plan(self, today: date) -> tuple[Instalment, ...] | None:
        """The plan's payments, the first due today, when one is offered
        (and the balance can be split into that many payments of a cent or
        more). Equal payments; the first carries the odd cents."""
        count = self.instalments
        if count is None or self.balance.cents < count:
            return None
        each, odd = divmod(self.balance.cents, count)
        currency = self.balance.currency
        return tuple(Instalment(add_months(today, n), Money(each + (odd if n == 0 else 0), currency))
                     for n in range(count))

    def latest_promise(self, today: date) -> date | None:
        """The latest date a promise may name, when promises are offered."""
        return None if self.promise_days is None else today + timedelta(days=self.promise_days)

    def offered(self, today: date) -> tuple[Option, ...]:
        """The options the menu offers, in key order."""
        return tuple(option for option, there in (
            (Option.FULL, True),
            (Option.SETTLEMENT, self.settlement() is not None),
            (Option.PLAN, self.plan(today) is not None),
            (Option.PROMISE, self.promise_days is not None),
        ) if there)


def add_months(day: date, months: int) -> date:
    """The same day months later, or the month's last day when it is
    shorter (31 January + 1 month = 28 or 29 February)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class DateProblem(Enum):
    """Why a keyed promise date cannot be taken."""

    INVALID = "invalid"
    PAST = "past"
    TOO_LATE = "too_late"


def read_promise_date(ddmm: str, today: date, latest: date) -> date | DateProblem:
    """A keyed DDMM as a date from today to latest, or what is wrong with
    it. The year is the one that puts the date in that window; otherwise
    the reading nearest today says whether it has passed or is too late."""
    if len(ddmm) != 4 or not ddmm.isascii() or not ddmm.isdigit():
        return DateProblem.INVALID
    day, month = int(ddmm[:2]), int(ddmm[2:])
    readings = []
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            readings.append(date(year, month, day))
        except ValueError:
            continue  # 29 February outside a leap year, 31 April, month 13 …
    if not readings:
        return DateProblem.INVALID
    for reading in readings:
        if today <= reading <= latest:
            return reading
    nearest = min(readings, key=lambda reading: abs(reading - today))
    return DateProblem.PAST if nearest < today else DateProblem.TOO_LATE
