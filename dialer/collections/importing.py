"""Account import: rows of a CSV or JSON-lines file, through a column
mapping, into Accounts, or a RowError naming the line and the field. Pure:
the caller reads the file and writes the database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers import timezone as phone_timezone

from dialer.collections.model import (
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
    "risk_score", "language", "time_zone", "status",
    *(f"phone{i}{suffix}" for i in range(1, MAX_PHONES + 1)
      for suffix in ("", "_kind", "_sms", "_consent")),
)
REQUIRED = ("reference", "debtor_name", "balance", "days_past_due", "phone1")
_TRUE = {"1", "true", "yes", "y", "si", "sí", "t"}
_FALSE = {"0", "false", "no", "n", "f"}
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


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


def _text(row: Mapping[str, object], mapping: Mapping[str, str], field: str) -> str:
    column = mapping.get(field)
    value = row.get(column) if column is not None else None
    return "" if value is None else str(value).strip()


def _flag(raw: str, field: str, default: bool) -> bool:
    if not raw:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise _Bad(f"{field}: {raw!r} is not yes/no")


def parse_phone(raw: str, field: str, defaults: ImportDefaults, kind_raw: str = "",
                sms_raw: str = "", consent_raw: str = "") -> Phone:
    """Normalise one phone to E.164 with its zones; _Bad names the field."""
    try:
        parsed = phonenumbers.parse(raw, defaults.region)
    except phonenumbers.NumberParseException as error:
        raise _Bad(f"{field}: {raw!r} is not a phone number ({error})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise _Bad(f"{field}: {raw!r} is not a valid number for its country")
    zones = tuple(z for z in phone_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown")
    mobile = phonenumbers.number_type(parsed) in _MOBILE_TYPES
    if kind_raw:
        try:
            kind = PhoneKind(kind_raw.lower())
        except ValueError:
            raise _Bad(f"{field}_kind: {kind_raw!r} is not one of "
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


def _number(raw: str, field: str, kind: type[int | float]) -> int | float:
    try:
        return kind(raw)
    except ValueError:
        raise _Bad(f"{field}: {raw!r} is not a{'n integer' if kind is int else ' number'}") from None


def _zone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise _Bad(f"time_zone: {raw!r} is not an IANA time zone") from None
    return raw


def parse_row(row: Mapping[str, object], mapping: Mapping[str, str],
              defaults: ImportDefaults) -> Account:
    """One row as an Account; ValueError names the field that is wrong."""
    for field in REQUIRED:
        if not _text(row, mapping, field):
            raise _Bad(f"{field}: missing")
    balance_raw = _text(row, mapping, "balance")
    try:
        balance = Decimal(balance_raw)
    except InvalidOperation:
        raise _Bad(f"balance: {balance_raw!r} is not an amount") from None
    if not balance.is_finite() or balance < 0:
        raise _Bad(f"balance: {balance_raw!r} must be zero or more")
    days = int(_number(_text(row, mapping, "days_past_due"), "days_past_due", int))
    if days < 0:
        raise _Bad(f"days_past_due: {days} must be zero or more")
    risk_raw = _text(row, mapping, "risk_score")
    risk = float(_number(risk_raw, "risk_score", float)) if risk_raw else defaults.risk_score
    if not 0 <= risk <= 1:
        raise _Bad(f"risk_score: {risk_raw!r} must be between 0 and 1")
    currency = (_text(row, mapping, "currency") or defaults.currency).upper()
    if len(currency) != 3 or not currency.isalpha():
        raise _Bad(f"currency: {currency!r} is not an ISO 4217 code")
    language_raw = _text(row, mapping, "language").lower()
    try:
        language = Language(language_raw) if language_raw else defaults.language
    except ValueError:
        raise _Bad(f"language: {language_raw!r} is not es or en") from None
    status_raw = _text(row, mapping, "status").lower()
    try:
        status = AccountStatus(status_raw) if status_raw else AccountStatus.ACTIVE
    except ValueError:
        raise _Bad(f"status: {status_raw!r} is not one of "
                   f"{', '.join(s.value for s in AccountStatus)}") from None
    zone_raw = _text(row, mapping, "time_zone")
    time_zone = _zone(zone_raw) if zone_raw else ""
    phones: list[Phone] = []
    for i in range(1, MAX_PHONES + 1):
        field = f"phone{i}"
        raw = _text(row, mapping, field)
        if not raw:
            continue
        phone = parse_phone(raw, field, defaults, _text(row, mapping, f"{field}_kind"),
                            _text(row, mapping, f"{field}_sms"),
                            _text(row, mapping, f"{field}_consent"))
        if not phone.time_zones and not time_zone:
            raise _Bad(f"{field}: no time zone is known for {phone.number}; give time_zone")
        if all(phone.number != p.number for p in phones):
            phones.append(phone)
    return Account(
        reference=_text(row, mapping, "reference"),
        debtor_name=_text(row, mapping, "debtor_name"),
        balance=balance.quantize(Decimal("0.01")),
        currency=currency,
        days_past_due=days,
        client_segment=_text(row, mapping, "client_segment"),
        risk_score=risk,
        language=language,
        time_zone=time_zone,
        status=status,
        phones=tuple(phones),
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
            errors.append(RowError(line, f"reference: {account.reference!r} already on line {first}"))
            continue
        seen[account.reference] = line
        accounts.append(account)
    return accounts, errors
