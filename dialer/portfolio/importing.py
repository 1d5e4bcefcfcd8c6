"""Account import: rows of a CSV or JSON-lines file, through a column
mapping, into Accounts, or a RowError naming the line and the field. Pure:
the caller reads the file and writes the database.

Every value is checked here against what PostgreSQL would refuse (ranges,
characters, lengths), so that one bad value quarantines its row and never
the whole import."""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers import timezone as phone_timezone

from dialer.portfolio.model import (
    Account,
    AccountStatus,
    Language,
    Phone,
    PhoneKind,
)

MAX_PHONES = 3
# The fields Recobro reads; a mapping renames the file's columns to these.
FIELDS = (
    "reference", "debtor_name", "balance", "currency", "days_past_due", "client_segment",
    "risk_score", "language", "time_zone", "status", "email", "due_date",
    *(f"phone{i}{suffix}" for i in range(1, MAX_PHONES + 1)
      for suffix in ("", "_kind", "_sms", "_consent")),
)
REQUIRED = ("reference", "debtor_name", "balance", "days_past_due", "phone1")
_TRUE = {"1", "true", "yes", "y", "si", "sí", "t"}
_FALSE = {"0", "false", "no", "n", "f"}
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}

# The longest value each field may have, in characters (after trimming).
# Generous for real data (references and names from any creditor's system),
# small enough that a runaway field (a stray quote swallowing the file, a
# 10 MB blob) quarantines its row instead of reaching the database.
FIELD_LIMITS: dict[str, int] = {
    "reference": 100, "debtor_name": 200, "client_segment": 100, "balance": 32,
    "currency": 16, "days_past_due": 16, "risk_score": 32, "language": 16, "time_zone": 64,
    "status": 16, "email": 254, "due_date": 32,
    **{f"phone{i}": 40 for i in range(1, MAX_PHONES + 1)},
    **{f"phone{i}{suffix}": 16 for i in range(1, MAX_PHONES + 1)
       for suffix in ("_kind", "_sms", "_consent")},
}
# Free text that is stored as given: the fields a formula could hide in
# (every other field is a number, a phone or one of a few known words).
FREE_TEXT = ("reference", "debtor_name", "client_segment")
# A spreadsheet runs a cell starting with one of these as a formula (tab and
# CR, the other two OWASP lists, are control characters, refused anyway).
FORMULA_START = ("=", "+", "-", "@")
# accounts.balance is numeric(14, 2): twelve digits before the point.
MAX_BALANCE = Decimal("999999999999.99")
# accounts.days_past_due is a PostgreSQL integer.
MAX_INTEGER = 2**31 - 1
# Control characters (C0, DEL, C1) and lone UTF-16 surrogates: PostgreSQL
# text cannot hold NUL nor a surrogate, and the others have no place in a
# name or a reference (they break logs, terminals and caller-ID displays).
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Plain ASCII digits only (\d would take Arabic-Indic and other digits), no
# sign, no exponent, no '_', one '.' or ',' before at most two decimals.
_AMOUNT = re.compile(r"([0-9]+)(?:[.,]([0-9]+))?")
_INTEGER = re.compile(r"[0-9]+")
_FRACTION = re.compile(r"[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+")
_SHOWN = 40  # characters of a bad value quoted in a reason


@dataclass(frozen=True)
class ImportDefaults:
    """What a row gets when its file has no such column."""

    region: str = "US"  # for numbers written without a country code
    currency: str = "USD"
    language: Language = Language.ES
    risk_score: float = 0.5


@dataclass(frozen=True)
class RowError:
    """Why one row was not imported."""

    line: int
    reason: str


class MappingError(ValueError):
    """The mapping or the file's header cannot work: nothing is imported."""


def check_mapping(mapping: Mapping[str, str], columns: Iterable[str]) -> dict[str, str]:
    """The full field -> column mapping for a file with these columns:
    mapped fields must exist in the file, unmapped fields are read from a
    column of their own name when there is one."""
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise MappingError(f"mapping names unknown field(s) {', '.join(unknown)}; "
                           f"known: {', '.join(FIELDS)}")
    present = set(columns)
    missing = sorted(f"{field} -> {column!r}" for field, column in mapping.items()
                     if column not in present)
    if missing:
        raise MappingError(f"the file has no column for {', '.join(missing)}")
    full = {field: field for field in FIELDS if field in present}
    full.update(mapping)
    absent = [field for field in REQUIRED if field not in full]
    if absent:
        raise MappingError(f"no column for required field(s) {', '.join(absent)} "
                           "(name them in the header or map them)")
    return full


class _Bad(ValueError):
    pass


def show(value: str, limit: int = _SHOWN) -> str:
    """A value quoted in a reason: repr (control characters escaped), cut
    to limit characters so that a huge field makes a short reason."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value):,} characters)"


def storable(text: str, limit: int = 4000) -> str:
    """Text PostgreSQL can store (for the quarantine's copy of a bad row):
    NUL written as \\x00, lone surrogates as \\udXXX escapes, and at most
    limit characters with a note of the full length."""
    if len(text) > limit:
        text = f"{text[:limit]}... (cut: {len(text):,} characters in all)"
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _forbidden(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if char == "\x00":
        return f"a NUL character ({code})"
    if "\ud800" <= char <= "\udfff":
        return f"{code}, half of a UTF-16 pair and no character"
    return f"the control character {code}"


def _value(value: object, field: str) -> str:
    """One field's value as text, trimmed; _Bad when it cannot be stored:
    a JSON value that is no string or number (true/false only for yes/no
    fields), too long, or holding a character PostgreSQL or a person
    reading it should not get."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, bool):  # before int: a bool is an int in Python
        if not field.endswith(("_sms", "_consent")):
            raise _Bad(f"{field}: a JSON {str(value).lower()}, not text or a number")
        text = "yes" if value else "no"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        # 1e15 is read as the integer it is, 12.5 as 12.5; inf and nan
        # (1e309, NaN) as words no number parser here accepts.
        text = str(int(value)) if value.is_integer() else format(Decimal(repr(value)), "f")
    else:
        kind = "object" if isinstance(value, Mapping) else "array" \
            if isinstance(value, list) else type(value).__name__
        raise _Bad(f"{field}: a JSON {kind}, not text or a number")
    limit = FIELD_LIMITS[field]
    if len(text) > limit:
        raise _Bad(f"{field}: {len(text):,} characters, more than the {limit} allowed")
    bad = _FORBIDDEN.search(text)
    if bad:
        raise _Bad(f"{field}: {show(text)} has {_forbidden(bad.group())} at position "
                   f"{bad.start() + 1}")
    return text


def _values(row: Mapping[str, object], mapping: Mapping[str, str]) -> dict[str, str]:
    """Every mapped field's value, checked (_value); free text that a
    spreadsheet would run as a formula is refused."""
    values: dict[str, str] = {}
    for field, column in mapping.items():
        value = row.get(column)
        # The common case inline (a short clean string): this runs for
        # every field of every row.
        if type(value) is str:
            text = value.strip()
            if len(text) <= FIELD_LIMITS[field] and not _FORBIDDEN.search(text):
                values[field] = text
                continue
        values[field] = _value(value, field)
    for field in FREE_TEXT:
        text = values.get(field, "")
        if text.startswith(FORMULA_START):
            raise _Bad(f"{field}: {show(text)} starts with {text[0]!r}, which a spreadsheet "
                       "would run as a formula")
    return values


def _flag(raw: str, field: str, default: bool) -> bool:
    if not raw:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise _Bad(f"{field}: {show(raw)} is not yes/no")


def parse_phone(raw: str, field: str, defaults: ImportDefaults, kind_raw: str = "",
                sms_raw: str = "", consent_raw: str = "", *,
                refuse_extension: bool = False) -> Phone:
    """Normalise one phone to E.164 with its zones; _Bad names the field.
    With refuse_extension, a number with an extension is refused (the
    import: Recobro cannot dial one); without, the extension is dropped (a
    do-not-call entry covers the whole number)."""
    try:
        parsed = phonenumbers.parse(raw, defaults.region)
    except phonenumbers.NumberParseException as error:
        raise _Bad(f"{field}: {show(raw)} is not a phone number ({error})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise _Bad(f"{field}: {show(raw)} is not a valid number for its country")
    if refuse_extension and parsed.extension:
        raise _Bad(f"{field}: {show(raw)} has the extension {parsed.extension}; extensions "
                   "cannot be dialed (give a direct number)")
    zones = tuple(z for z in phone_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown")
    mobile = phonenumbers.number_type(parsed) in _MOBILE_TYPES
    if kind_raw:
        try:
            kind = PhoneKind(kind_raw.lower())
        except ValueError:
            raise _Bad(f"{field}_kind: {show(kind_raw)} is not one of "
                       f"{', '.join(k.value for k in PhoneKind)}") from None
    else:
        kind = PhoneKind.MOBILE if mobile else PhoneKind.HOME
    return Phone(
        number=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        kind=kind,
        sms_capable=_flag(sms_raw, f"{field}_sms", kind is PhoneKind.MOBILE),
        # A creditor's file without a consent column lists consented numbers.
        consent=_flag(consent_raw, f"{field}_consent", True),
        region=phonenumbers.region_code_for_number(parsed) or defaults.region,
        time_zones=zones,
    )


def parse_amount(raw: str, field: str = "balance") -> Decimal:
    """An amount of money as numeric(14, 2) stores it: ASCII digits, one
    '.' or ',' before at most two decimals; no sign, spaces, thousands
    separators, '_' or exponent (1,000 and 1.000 are refused, not guessed)."""
    match = _AMOUNT.fullmatch(raw)
    if match is None:
        if raw.startswith("-") and _AMOUNT.fullmatch(raw[1:]):
            raise _Bad(f"{field}: {show(raw)} must be zero or more")
        raise _Bad(f"{field}: {show(raw)} is not an amount (digits, then '.' or ',' and at "
                   "most two decimals)")
    units, cents = match.group(1), match.group(2) or "0"
    if len(cents) > 2:
        raise _Bad(f"{field}: {show(raw)} has more than two decimals (no thousands "
                   "separators: write 1000 or 1000.00)")
    amount = Decimal(f"{units}.{cents}")
    if amount > MAX_BALANCE:
        raise _Bad(f"{field}: {show(raw)} is out of range (at most {MAX_BALANCE})")
    return amount.quantize(Decimal("0.01"))


def _integer(raw: str, field: str) -> int:
    """A whole number from zero up to PostgreSQL's integer range."""
    if not _INTEGER.fullmatch(raw):
        if raw.startswith("-") and _INTEGER.fullmatch(raw[1:]):
            raise _Bad(f"{field}: {show(raw)} must be zero or more")
        raise _Bad(f"{field}: {show(raw)} is not an integer")
    value = int(raw)
    if value > MAX_INTEGER:
        raise _Bad(f"{field}: {show(raw)} is out of range (at most {MAX_INTEGER})")
    return value


def _fraction(raw: str, field: str) -> float:
    """A number between 0 and 1 in plain digits ('.' or ',' as the point)."""
    if not _FRACTION.fullmatch(raw):
        raise _Bad(f"{field}: {show(raw)} is not a number")
    value = float(raw.replace(",", "."))
    if not 0 <= value <= 1:
        raise _Bad(f"{field}: {show(raw)} must be between 0 and 1")
    return value


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _zone(raw: str) -> str:
    # The list of zone names, not ZoneInfo(raw): ZoneInfo('Europe') opens a
    # directory (IsADirectoryError) and 'zone.tab' a file that is no zone.
    if raw not in _zones():
        raise _Bad(f"time_zone: {show(raw)} is not an IANA time zone")
    return raw


# What an address needs to be worth sending to: one @, no spaces, a dot in
# the domain (the database's own check is looser: any @).
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _email(raw: str) -> str | None:
    if not raw:
        return None
    if not _EMAIL.fullmatch(raw):
        raise _Bad(f"email: {show(raw)} is not an e-mail address")
    return raw


# A date as ISO 8601 writes it in full (date.fromisoformat alone would
# also take 20270105 and 2027-W01-2, which a file means by accident).
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _due_date(raw: str) -> date | None:
    """The account's next due date (YYYY-MM-DD), or None when not given."""
    if not raw:
        return None
    if not _DATE.fullmatch(raw):
        raise _Bad(f"due_date: {show(raw)} is not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _Bad(f"due_date: {show(raw)} is not a date of the calendar") from None


def parse_row(row: Mapping[str, object], mapping: Mapping[str, str],
              defaults: ImportDefaults) -> Account:
    """One row as an Account; ValueError names the field that is wrong."""
    values = _values(row, mapping)
    for field in REQUIRED:
        if not values.get(field):
            raise _Bad(f"{field}: missing")
    balance = parse_amount(values["balance"])
    days = _integer(values["days_past_due"], "days_past_due")
    risk_raw = values.get("risk_score", "")
    risk = _fraction(risk_raw, "risk_score") if risk_raw else defaults.risk_score
    currency = (values.get("currency") or defaults.currency).upper()
    if not re.fullmatch("[A-Z]{3}", currency):
        raise _Bad(f"currency: {show(currency)} is not an ISO 4217 code")
    language_raw = values.get("language", "").lower()
    try:
        language = Language(language_raw) if language_raw else defaults.language
    except ValueError:
        raise _Bad(f"language: {show(language_raw)} is not es or en") from None
    status_raw = values.get("status", "").lower()
    try:
        status = AccountStatus(status_raw) if status_raw else AccountStatus.ACTIVE
    except ValueError:
        raise _Bad(f"status: {show(status_raw)} is not one of "
                   f"{', '.join(s.value for s in AccountStatus)}") from None
    zone_raw = values.get("time_zone", "")
    time_zone = _zone(zone_raw) if zone_raw else ""
    phones: list[Phone] = []
    for i in range(1, MAX_PHONES + 1):
        field = f"phone{i}"
        raw = values.get(field, "")
        if not raw:
            continue
        phone = parse_phone(raw, field, defaults, values.get(f"{field}_kind", ""),
                            values.get(f"{field}_sms", ""), values.get(f"{field}_consent", ""),
                            refuse_extension=True)
        if not phone.time_zones and not time_zone:
            raise _Bad(f"{field}: no time zone is known for {phone.number}; give time_zone")
        if all(phone.number != p.number for p in phones):
            phones.append(phone)
    return Account(
        reference=values["reference"],
        debtor_name=values["debtor_name"],
        balance=balance,
        currency=currency,
        days_past_due=days,
        client_segment=values.get("client_segment", ""),
        risk_score=risk,
        language=language,
        time_zone=time_zone,
        status=status,
        phones=tuple(phones),
        email=_email(values.get("email", "")),
        due_date=_due_date(values.get("due_date", "")),
    )


def parse_rows(rows: Iterable[tuple[int, Mapping[str, object]]], mapping: Mapping[str, str],
               defaults: ImportDefaults) -> tuple[list[Account], list[RowError]]:
    """Every row as an Account or a RowError. A reference seen twice in
    one file is an error on its second line (the first one stands)."""
    accounts: list[Account] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        try:
            account = parse_row(row, mapping, defaults)
        except _Bad as error:
            errors.append(RowError(line, str(error)))
            continue
        first = seen.get(account.reference)
        if first is not None:
            errors.append(RowError(line, f"reference: {show(account.reference)} already on "
                                         f"line {first}"))
            continue
        seen[account.reference] = line
        accounts.append(account)
    return accounts, errors
