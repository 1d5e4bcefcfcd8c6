"""Card rules for keypad capture: the number (13-19 digits, Luhn, brand by
IIN range), the expiry (MMYY, valid month, not past) and the CVV (3 digits,
4 for American Express). Pure: "today" is passed in, nothing is logged.

A `Card` never shows its number, expiry or CVV in repr or str; only its
brand and last four. Python strings are immutable and cannot be zeroed: the
digits also live in the runner's `Digits` input and in whatever the gateway
adapter builds from them, until the garbage collector reclaims them.
`Card.wipe()` drops this object's references so that happens as soon as
possible, and makes any later read fail loudly instead of sending an empty
card. The honest promise is "held for seconds, referenced by nothing once
the gateway has answered", not "erased from memory"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum

MIN_LENGTH = 13
MAX_LENGTH = 19
EXPIRY_YEARS = 20  # an expiry further ahead than this is a keying mistake


class Brand(Enum):
    """A card scheme, as told by the number's leading digits (IIN)."""

    VISA = "visa"
    MASTERCARD = "mastercard"
    AMEX = "amex"
    DISCOVER = "discover"
    DINERS = "diners"
    JCB = "jcb"
    UNIONPAY = "unionpay"
    UNKNOWN = "unknown"  # Luhn-valid but no range we know: the gateway decides


class Problem(Enum):
    """Why what was keyed is not a card number, expiry or CVV."""

    NOT_DIGITS = "not_digits"
    LENGTH = "length"
    LUHN = "luhn"
    MONTH = "month"
    EXPIRED = "expired"
    TOO_FAR = "too_far"
    CVV_LENGTH = "cvv_length"


# (lowest IIN, highest IIN, brand), IINs compared on as many leading digits
# as the bounds have; the ranges do not overlap. Enough for the schemes'
# published ranges and Stripe's test cards, not a BIN table: a number none
# of them covers is UNKNOWN and left to the gateway. UnionPay's 622126-622925,
# which Discover's network also accepts, counts as UnionPay.
_RANGES: tuple[tuple[str, str, Brand], ...] = (
    ("6011", "6011", Brand.DISCOVER),
    ("644", "649", Brand.DISCOVER),
    ("65", "65", Brand.DISCOVER),
    ("62", "62", Brand.UNIONPAY),
    ("34", "34", Brand.AMEX),
    ("37", "37", Brand.AMEX),
    ("3528", "3589", Brand.JCB),
    ("300", "305", Brand.DINERS),
    ("3095", "3095", Brand.DINERS),
    ("36", "36", Brand.DINERS),
    ("38", "39", Brand.DINERS),
    ("2221", "2720", Brand.MASTERCARD),
    ("51", "55", Brand.MASTERCARD),
    ("4", "4", Brand.VISA),
)

# The lengths each scheme issues; an unknown scheme may be any of 13-19.
_LENGTHS: dict[Brand, frozenset[int]] = {
    Brand.VISA: frozenset({13, 16, 19}),
    Brand.MASTERCARD: frozenset({16}),
    Brand.AMEX: frozenset({15}),
    Brand.DISCOVER: frozenset(range(16, 20)),
    Brand.DINERS: frozenset(range(14, 20)),
    Brand.JCB: frozenset(range(16, 20)),
    Brand.UNIONPAY: frozenset(range(16, 20)),
    Brand.UNKNOWN: frozenset(range(MIN_LENGTH, MAX_LENGTH + 1)),
}


def luhn_ok(number: str) -> bool:
    """Whether a string of digits passes the Luhn check."""
    if not number.isdigit() or not number.isascii():
        return False
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def brand_of(number: str) -> Brand:
    """The scheme a card number belongs to, by its IIN."""
    for low, high, brand in _RANGES:
        head = number[:len(low)]
        if len(head) == len(low) and low <= head <= high:
            return brand
    return Brand.UNKNOWN


def cvv_length(brand: Brand) -> int:
    """How many digits the card's security code has."""
    return 4 if brand is Brand.AMEX else 3


def last_four(number: str) -> str:
    """The last four digits: all a person (debtor, agent, database) sees."""
    return number[-4:]


def number_problem(number: str) -> Problem | None:
    """What is wrong with a keyed card number, or None when it may be one."""
    if not number.isascii() or not number.isdigit():
        return Problem.NOT_DIGITS
    if len(number) not in _LENGTHS[brand_of(number)]:
        return Problem.LENGTH
    if not luhn_ok(number):
        return Problem.LUHN
    return None


@dataclass(frozen=True, repr=False)
class Expiry:
    """A card's expiry: valid through the last day of month/year."""

    month: int
    year: int

    def __repr__(self) -> str:
        return "Expiry(hidden)"  # an expiry is card data too

    __str__ = __repr__

    def expired(self, today: date) -> bool:
        """Whether the card is no longer valid today."""
        return (self.year, self.month) < (today.year, today.month)


def read_expiry(mmyy: str, today: date) -> Expiry | Problem:
    """A keyed MMYY as an expiry, or what is wrong with it: not four
    digits, a month outside 01-12, already past, or implausibly far off."""
    if len(mmyy) != 4 or not mmyy.isascii() or not mmyy.isdigit():
        return Problem.NOT_DIGITS
    month, year = int(mmyy[:2]), 2000 + int(mmyy[2:])
    if not 1 <= month <= 12:
        return Problem.MONTH
    expiry = Expiry(month, year)
    if expiry.expired(today):
        return Problem.EXPIRED
    if year > today.year + EXPIRY_YEARS:
        return Problem.TOO_FAR
    return expiry


def cvv_problem(cvv: str, brand: Brand) -> Problem | None:
    """What is wrong with a keyed CVV for a card of brand, or None."""
    if not cvv.isascii() or not cvv.isdigit():
        return Problem.NOT_DIGITS
    if len(cvv) != cvv_length(brand):
        return Problem.CVV_LENGTH
    return None


class WipedCard(RuntimeError):
    """A wiped card was read: a bug, never a card to send."""


class Card:
    """A card being captured: the number first, then its expiry and CVV.

    Immutable in use (with_expiry and with_cvv return new cards); wipe()
    is the one mutation, dropping the secrets. repr and str show the brand
    and last four only; a card refuses to be pickled or copied, so it
    cannot reach a queue, a cache or a deep-copied snapshot by accident."""

    __slots__ = ("_cvv", "_expiry", "_number", "brand", "last4")

    def __init__(self, number: str, expiry: Expiry | None = None, cvv: str | None = None) -> None:
        """A card from a valid number (and, when known, expiry and CVV);
        ValueError, naming no digit, for an invalid one."""
        problem = number_problem(number)
        if problem is not None:
            raise ValueError(f"not a card number ({problem.value})")
        brand = brand_of(number)
        if cvv is not None and cvv_problem(cvv, brand) is not None:
            raise ValueError("not a CVV for this card")
        self._number: str | None = number
        self._expiry: Expiry | None = expiry
        self._cvv: str | None = cvv
        self.brand = brand
        self.last4 = last_four(number)

    def __repr__(self) -> str:
        return f"Card({self.brand.value} ending {self.last4})"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: object) -> object:
        raise TypeError("a card is never pickled or copied")

    @property
    def number(self) -> str:
        """The full number: for the gateway adapter only."""
        if self._number is None:
            raise WipedCard("card already wiped")
        return self._number

    @property
    def expiry(self) -> Expiry | None:
        """The expiry, once keyed: for the gateway adapter only."""
        if self._number is None:
            raise WipedCard("card already wiped")
        return self._expiry

    @property
    def cvv(self) -> str | None:
        """The CVV, once keyed: for the gateway adapter only."""
        if self._number is None:
            raise WipedCard("card already wiped")
        return self._cvv

    @property
    def complete(self) -> bool:
        """Whether number, expiry and CVV are all there (and not wiped)."""
        return self._number is not None and self._expiry is not None and self._cvv is not None

    @property
    def wiped(self) -> bool:
        """Whether wipe() dropped the secrets."""
        return self._number is None

    def with_expiry(self, expiry: Expiry) -> Card:
        """This card with its expiry."""
        return Card(self.number, expiry, self.cvv)

    def with_cvv(self, cvv: str) -> Card:
        """This card with its CVV; ValueError when the length is wrong."""
        return Card(self.number, self.expiry, cvv)

    def wipe(self) -> None:
        """Drop the number, expiry and CVV (brand and last four stay).
        Call it once the gateway has answered: it cannot zero the bytes
        (see the module's docstring), it only lets them go."""
        self._number = None
        self._expiry = None
        self._cvv = None


def read_number(number: str) -> Card | Problem:
    """A keyed card number as a Card, or what is wrong with it."""
    problem = number_problem(number)
    return Card(number) if problem is None else problem
