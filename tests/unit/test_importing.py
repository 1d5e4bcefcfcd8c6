"""Account import rows: normalisation, defaults, and errors that name the
field and the line."""

from decimal import Decimal

import pytest

from dialer.collections.importing import (
    ImportDefaults,
    MappingError,
    check_mapping,
    parse_rows,
)
from dialer.collections.model import AccountStatus, Language, PhoneKind

DEFAULTS = ImportDefaults(region="US", currency="USD", language=Language.ES)
BASE = {"reference": "R1", "debtor_name": "Ana Pérez", "balance": "1234.5",
        "days_past_due": "45", "phone1": "(212) 555-1030"}


def parse_one(row: dict, mapping: dict | None = None):
    full = check_mapping(mapping or {}, row.keys())
    return parse_rows([(2, row)], full, DEFAULTS)


def test_a_good_row_is_normalised_with_defaults():
    accounts, errors = parse_one(BASE)
    assert errors == []
    account = accounts[0]
    assert account.balance == Decimal("1234.50")
    assert account.currency == "USD" and account.language is Language.ES
    assert account.status is AccountStatus.ACTIVE and account.time_zone == ""
    phone = account.phones[0]
    assert phone.number == "+12125551030"
    assert phone.time_zones == ("America/New_York",) and phone.region == "US"
    assert phone.kind is PhoneKind.MOBILE and phone.consent  # fixed-line-or-mobile in the US


def test_numbers_of_other_countries_and_their_zones():
    accounts, errors = parse_one({**BASE, "phone1": "+34 912 34 12 00",
                                  "phone2": "+52 55 1234 1030", "phone2_kind": "work",
                                  "phone2_consent": "no"})
    assert errors == []
    spain, mexico = accounts[0].phones
    assert spain.number == "+34912341200" and spain.time_zones == ("Europe/Madrid",)
    assert spain.region == "ES" and spain.kind is PhoneKind.HOME
    assert mexico.time_zones == ("America/Mexico_City",) and mexico.kind is PhoneKind.WORK
    assert not mexico.consent


def test_a_number_in_two_zones_keeps_both():
    accounts, _ = parse_one({**BASE, "phone1": "+34 612 34 10 30"})
    assert set(accounts[0].phones[0].time_zones) == {"Europe/Madrid", "Atlantic/Canary"}


@pytest.mark.parametrize("change, reason", [
    ({"balance": "abc"}, "balance: 'abc' is not an amount"),
    ({"balance": "-5"}, "balance: '-5' must be zero or more"),
    ({"days_past_due": "x"}, "days_past_due: 'x' is not an integer"),
    ({"phone1": "12"}, "phone1: '12' is not a valid number"),
    ({"phone1": ""}, "phone1: missing"),
    ({"reference": " "}, "reference: missing"),
    ({"risk_score": "1.5"}, "risk_score: '1.5' must be between 0 and 1"),
    ({"language": "fr"}, "language: 'fr' is not es or en"),
    ({"status": "gone"}, "status: 'gone' is not one of"),
    ({"time_zone": "Mars/Olympus"}, "time_zone: 'Mars/Olympus' is not an IANA time zone"),
    ({"currency": "EURO"}, "currency: 'EURO' is not an ISO 4217 code"),
    ({"phone1_sms": "maybe"}, "phone1_sms: 'maybe' is not yes/no"),
    ({"phone1_kind": "fax"}, "phone1_kind: 'fax' is not one of"),
])
def test_a_bad_row_names_its_field_and_line(change, reason):
    accounts, errors = parse_one({**BASE, **change})
    assert accounts == []
    assert errors[0].line == 2 and errors[0].reason.startswith(reason)


def test_a_reference_twice_in_one_file_keeps_the_first():
    full = check_mapping({}, BASE.keys())
    accounts, errors = parse_rows([(2, BASE), (3, {**BASE, "debtor_name": "Other"})], full,
                                  DEFAULTS)
    assert [a.debtor_name for a in accounts] == ["Ana Pérez"]
    assert errors[0].line == 3 and "already on line 2" in errors[0].reason


def test_a_mapping_renames_columns():
    row = {"Cuenta": "R9", "Nombre": "Luis", "Saldo": "10", "Dias": "100", "Tel": "2125551030"}
    mapping = {"reference": "Cuenta", "debtor_name": "Nombre", "balance": "Saldo",
               "days_past_due": "Dias", "phone1": "Tel"}
    accounts, errors = parse_one(row, mapping)
    assert errors == [] and accounts[0].reference == "R9"


def test_a_mapping_that_cannot_work_names_the_problem():
    with pytest.raises(MappingError, match="unknown field"):
        check_mapping({"balanse": "Saldo"}, ["Saldo"])
    with pytest.raises(MappingError, match="no column for balance -> 'Saldo'"):
        check_mapping({"balance": "Saldo"}, ["Balance"])
    with pytest.raises(MappingError, match="required field.*phone1"):
        check_mapping({}, ["reference", "debtor_name", "balance", "days_past_due"])
