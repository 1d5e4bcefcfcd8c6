"""Account import rows: normalisation, defaults, and errors that name the
field and the line; reading the file's bytes: a bad line costs its row
only, named by its line (and its byte offset when the bytes are at fault)."""

import io
import json
from datetime import date
from decimal import Decimal

import pytest

from dialer.portfolio.importer import read_lines, read_rows
from dialer.portfolio.importing import (
    FIELD_LIMITS,
    FIELDS,
    ImportDefaults,
    MappingError,
    check_mapping,
    parse_phone,
    parse_rows,
    storable,
)
from dialer.portfolio.model import AccountStatus, Language, PhoneKind

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
    ({"email": "ana@"}, "email: 'ana@' is not an e-mail address"),
    ({"email": "ana pérez@example.com"}, "email: 'ana pérez@example.com' is not an e-mail"),
    ({"due_date": "05/01/2027"}, "due_date: '05/01/2027' is not a date (YYYY-MM-DD)"),
    ({"due_date": "20270105"}, "due_date: '20270105' is not a date (YYYY-MM-DD)"),
    ({"due_date": "2027-W01-2"}, "due_date: '2027-W01-2' is not a date (YYYY-MM-DD)"),
    ({"due_date": "2027-01-05T00:00"}, "due_date: '2027-01-05T00:00' is not a date"),
    ({"due_date": "2027-1-5"}, "due_date: '2027-1-5' is not a date (YYYY-MM-DD)"),
    ({"due_date": "2027-02-29"}, "due_date: '2027-02-29' is not a date of the calendar"),
    ({"due_date": "2027-13-01"}, "due_date: '2027-13-01' is not a date of the calendar"),
    ({"due_date": "٢٠٢٧-01-05"}, "due_date: '٢٠٢٧-01-05' is not a date (YYYY-MM-DD)"),
])
def test_a_bad_row_names_its_field_and_line(change, reason):
    accounts, errors = parse_one({**BASE, **change})
    assert accounts == []
    assert errors[0].line == 2 and errors[0].reason.startswith(reason)


def test_an_email_is_kept_when_given():
    accounts, _ = parse_one({**BASE, "email": "ana@example.com"})
    assert accounts[0].email == "ana@example.com"
    accounts, _ = parse_one(BASE)
    assert accounts[0].email is None


def test_a_due_date_is_read_when_given():
    accounts, errors = parse_one({**BASE, "days_past_due": "0", "due_date": " 2028-02-29 "})
    assert errors == [] and accounts[0].due_date == date(2028, 2, 29)
    accounts, _ = parse_one({**BASE, "due_date": ""})
    assert accounts[0].due_date is None
    accounts, _ = parse_one(BASE)  # no such column
    assert accounts[0].due_date is None
    assert "due_date" in FIELDS


def test_a_due_date_in_json_lines_must_be_text():
    accounts, errors = parse_one({**BASE, "due_date": 20270105})
    assert accounts == [] and errors[0].reason == ("due_date: '20270105' is not a date "
                                                   "(YYYY-MM-DD)")


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


# Bad input never costs more than its row; every reason names the field.

@pytest.mark.parametrize("change, reason", [
    # Amounts: plain ASCII digits, one '.' or ',', at most two decimals,
    # within numeric(14, 2).
    ({"balance": "1e15"}, "balance: '1e15' is not an amount"),
    ({"balance": "1e309"}, "balance: '1e309' is not an amount"),
    ({"balance": "1_000"}, "balance: '1_000' is not an amount"),
    ({"balance": "\u0661\u0662\u0663"}, "balance: '١٢٣' is not an amount"),  # Arabic-Indic
    ({"balance": "\uff11\uff10"}, "balance: '１０' is not an amount"),  # full-width
    ({"balance": "inf"}, "balance: 'inf' is not an amount"),
    ({"balance": "NaN"}, "balance: 'NaN' is not an amount"),
    ({"balance": "+5"}, "balance: '+5' is not an amount"),
    ({"balance": "1 000"}, "balance: '1 000' is not an amount"),
    ({"balance": "1,000.50"}, "balance: '1,000.50' is not an amount"),
    ({"balance": "1,000"}, "balance: '1,000' has more than two decimals"),
    ({"balance": "12.345"}, "balance: '12.345' has more than two decimals"),
    ({"balance": "1000000000000"}, "balance: '1000000000000' is out of range"),
    # Integers within PostgreSQL's integer.
    ({"days_past_due": "99999999999"}, "days_past_due: '99999999999' is out of range"),
    ({"days_past_due": "2147483648"}, "days_past_due: '2147483648' is out of range"),
    ({"days_past_due": "1_000"}, "days_past_due: '1_000' is not an integer"),
    ({"days_past_due": "\u0663"}, "days_past_due: '٣' is not an integer"),
    ({"days_past_due": "-3"}, "days_past_due: '-3' must be zero or more"),
    ({"risk_score": "0_5"}, "risk_score: '0_5' is not a number"),
    ({"risk_score": "nan"}, "risk_score: 'nan' is not a number"),
    # Characters PostgreSQL text refuses (NUL), and other control characters.
    ({"debtor_name": "Ana\x00P"},
     "debtor_name: 'Ana\\x00P' has a NUL character (U+0000) at position 4"),
    ({"debtor_name": "Ana\x1b[31m"},
     "debtor_name: 'Ana\\x1b[31m' has the control character U+001B"),
    ({"reference": "R\n1"}, "reference: 'R\\n1' has the control character U+000A"),
    ({"phone1_kind": "home\x00"}, "phone1_kind: 'home\\x00' has a NUL character"),
    # Too long for its field.
    ({"debtor_name": "x" * 201}, "debtor_name: 201 characters, more than the 200 allowed"),
    ({"reference": "R" * 101}, "reference: 101 characters, more than the 100 allowed"),
    ({"client_segment": "s" * 10_000_000},
     "client_segment: 10,000,000 characters, more than the 100 allowed"),
    # Text a spreadsheet would run as a formula.
    ({"debtor_name": '=HYPERLINK("http://x.example","Pay")'},
     "debtor_name: '=HYPERLINK(\"http://x.example\",\"Pay\")' starts with '='"),
    ({"reference": "+1+1"}, "reference: '+1+1' starts with '+'"),
    ({"reference": "-2+3"}, "reference: '-2+3' starts with '-'"),
    ({"client_segment": "@SUM(A1)"}, "client_segment: '@SUM(A1)' starts with '@'"),
    ({"debtor_name": "\t=1+1"}, "debtor_name: '=1+1' starts with '='"),  # tab trimmed first
    # Extensions cannot be dialed.
    ({"phone1": "+1 (212) 500-1200 ext 9"},
     "phone1: '+1 (212) 500-1200 ext 9' has the extension 9; extensions cannot be dialed"),
    ({"phone2": "212 500 1200 x 12"}, "phone2: '212 500 1200 x 12' has the extension 12"),
    # Time zones: a directory of the zone database is no zone (it was a traceback).
    ({"time_zone": "Europe"}, "time_zone: 'Europe' is not an IANA time zone"),
    ({"time_zone": "zone.tab"}, "time_zone: 'zone.tab' is not an IANA time zone"),
    ({"currency": "\u00c9UR"}, "currency: 'ÉUR' is not an ISO 4217 code"),
])
def test_a_value_the_database_or_a_reader_would_refuse_costs_its_row(change, reason):
    accounts, errors = parse_one({**BASE, **change})
    assert accounts == []
    assert errors[0].line == 2 and errors[0].reason.startswith(reason), errors[0].reason
    assert len(errors[0].reason) < 300  # a 10 MB value makes a short reason


@pytest.mark.parametrize("balance, stored", [
    ("0", "0.00"), ("1,5", "1.50"), ("1,50", "1.50"), ("007.5", "7.50"),
    ("999999999999.99", "999999999999.99"), (" 12 ", "12.00"),
])
def test_plain_amounts_are_read(balance, stored):
    accounts, errors = parse_one({**BASE, "balance": balance})
    assert errors == [] and accounts[0].balance == Decimal(stored)


def test_the_largest_values_the_database_holds_are_read():
    row = {**BASE, "days_past_due": "2147483647", "reference": "R" * 100,
           "debtor_name": "Ñ" * 200, "risk_score": "0,25"}
    accounts, errors = parse_one(row)
    assert errors == []
    assert accounts[0].days_past_due == 2147483647 and accounts[0].risk_score == 0.25


def test_a_phone_number_may_start_with_plus_and_names_may_have_inner_signs():
    accounts, errors = parse_one({**BASE, "phone1": "+1 212 555 1030",
                                  "debtor_name": "Ana-María O'Neil + hijos"})
    assert errors == [] and accounts[0].phones[0].number == "+12125551030"


def test_a_do_not_call_entry_keeps_the_number_of_an_extension():
    phone = parse_phone("+1 (212) 500-1200 ext 9", "number", DEFAULTS)
    assert phone.number == "+12125001200"


JSON_BASE = {"reference": "J1", "debtor_name": "Luz", "balance": 12, "days_past_due": 95,
             "phone1": "+525512341030"}


def parse_json(row: dict):
    full = check_mapping({}, row.keys())
    return parse_rows([(4, row)], full, DEFAULTS)


@pytest.mark.parametrize("change, reason", [
    ({"reference": {"id": 1}}, "reference: a JSON object, not text or a number"),
    ({"debtor_name": ["Luz", "Mar"]}, "debtor_name: a JSON array, not text or a number"),
    ({"balance": True}, "balance: a JSON true, not text or a number"),
    ({"balance": float("inf")}, "balance: 'Infinity' is not an amount"),  # 1e309
    ({"balance": float("nan")}, "balance: 'NaN' is not an amount"),
    ({"balance": 1e15}, "balance: '1000000000000000' is out of range"),
    ({"balance": 0.1 + 0.2}, "balance: '0.30000000000000004' has more than two decimals"),
    ({"days_past_due": 99999999999}, "days_past_due: '99999999999' is out of range"),
    ({"days_past_due": 4.5}, "days_past_due: '4.5' is not an integer"),
    ({"debtor_name": "Luz\ud800"},
     "debtor_name: 'Luz\\ud800' has U+D800, half of a UTF-16 pair and no character"),
    ({"debtor_name": "Luz\u0000"}, "debtor_name: 'Luz\\x00' has a NUL character"),
])
def test_a_json_value_of_the_wrong_kind_costs_its_row_naming_the_field(change, reason):
    accounts, errors = parse_json({**JSON_BASE, **change})
    assert accounts == []
    assert errors[0].line == 4 and errors[0].reason.startswith(reason), errors[0].reason


def test_json_numbers_and_booleans_are_read_where_they_fit():
    accounts, errors = parse_json({**JSON_BASE, "balance": 12.5, "days_past_due": 45.0,
                                   "risk_score": 1e-05, "phone1_sms": True,
                                   "phone1_consent": False, "reference": 12345})
    assert errors == []
    account = accounts[0]
    assert account.balance == Decimal("12.50") and account.days_past_due == 45
    assert account.risk_score == 0.00001 and account.reference == "12345"
    assert account.phones[0].sms_capable and not account.phones[0].consent


def test_what_the_quarantine_keeps_is_storable():
    assert storable("a\x00b\ud800") == "a\\x00b\\ud800"
    kept = storable("x" * 10_000_000)
    assert len(kept) < 4100 and kept.endswith("(cut: 10,000,000 characters in all)")


def test_every_field_has_a_limit():
    assert set(FIELD_LIMITS) == set(FIELDS)


# Reading the file: bytes, lines, offsets.

def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


CSV_HEADER = b"reference,debtor_name,balance,days_past_due,phone1\n"


def csv_row(i: int, name: bytes = b"") -> bytes:
    return b"R%d,%s,10,3,+1212555%04d\n" % (i, name or b"Debtor %d" % i, i % 10000)


def test_bad_utf8_is_named_by_its_line_and_its_offset_in_the_file(tmp_path):
    rows = [csv_row(i) for i in range(2, 3001)]  # lines 2..3000
    before = len(CSV_HEADER) + sum(len(r) for r in rows)
    bad = b"R3001,Jos\xe9 P\xe9rez,10,3,+12125551234\n"  # Latin-1, not UTF-8
    path = write(tmp_path, "a.csv", CSV_HEADER + b"".join(rows) + bad + csv_row(3002))
    parsed = read_rows(path, "auto")
    assert [line for line, _ in parsed.rows] == [*range(2, 3001), 3002]
    [error] = parsed.unreadable
    assert error.line == 3001
    assert error.reason == f"debtor_name: not UTF-8: byte 0xe9 at offset {before + 9} of the file"
    assert "Jos\ufffd P\ufffdrez" in parsed.raw[3001]


def test_offsets_count_the_byte_order_mark(tmp_path):
    path = write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + CSV_HEADER + b"R1,\xff,1,1,+12125551030\n")
    parsed = read_rows(path, "csv")
    assert parsed.columns[0] == "reference"  # the mark is not part of the first name
    assert parsed.unreadable[0].reason.endswith(f"offset {3 + len(CSV_HEADER) + 3} of the file")


def test_a_ten_megabyte_field_costs_its_row_and_reading_goes_on(tmp_path):
    huge = b"x" * 10 * 1024 * 1024
    path = write(tmp_path, "big.csv", CSV_HEADER + csv_row(2) + csv_row(3, huge) + csv_row(4))
    parsed = read_rows(path, "csv")
    assert [line for line, _ in parsed.rows] == [2, 3, 4]
    full = check_mapping({}, parsed.columns)
    accounts, errors = parse_rows(parsed.rows, full, DEFAULTS)
    assert [a.reference for a in accounts] == ["R2", "R4"]
    assert errors[0].line == 3
    assert errors[0].reason == "debtor_name: 10,485,760 characters, more than the 200 allowed"


def test_a_line_longer_than_the_reader_takes_is_skipped_with_its_line():
    data = b"a,b\n" + b"y" * 100 + b"\n" + b"c,d\n"
    lines = list(read_lines(io.BytesIO(data), lone_cr_ends_line=True, limit=50))
    assert [(line.number, line.offset) for line in lines] == [(1, 0), (2, 4), (3, 105)]
    assert lines[1].problem == "the line is 101 bytes long, more than the 50 read"
    assert lines[2].text == "c,d\n" and not lines[2].problem


def test_csv_lines_may_end_in_a_lone_carriage_return(tmp_path):
    path = write(tmp_path, "mac.csv", CSV_HEADER.replace(b"\n", b"\r")
                 + csv_row(2).replace(b"\n", b"\r") + csv_row(3).replace(b"\n", b"\r\n"))
    parsed = read_rows(path, "csv")
    assert [(line, row["reference"]) for line, row in parsed.rows] == [(2, "R2"), (3, "R3")]


def test_a_row_with_more_fields_than_the_header_is_not_guessed(tmp_path):
    path = write(tmp_path, "shift.csv", CSV_HEADER + b"R2,Perez, Ana,10,3,+12125551030\n"
                 + csv_row(3))
    parsed = read_rows(path, "csv")
    assert [line for line, _ in parsed.rows] == [3]
    assert parsed.unreadable[0].line == 2
    assert parsed.unreadable[0].reason.startswith("6 fields where the header has 5")


def test_a_row_over_several_lines_is_named_by_its_first(tmp_path):
    path = write(tmp_path, "multi.csv", CSV_HEADER + b'R2,"Ana\nP\xe9rez",10,3,+12125551030\n'
                 + csv_row(4))
    parsed = read_rows(path, "csv")
    assert [line for line, _ in parsed.rows] == [4]
    assert parsed.unreadable[0].line == 2
    assert parsed.unreadable[0].reason.startswith("debtor_name: not UTF-8: byte 0xe9")
    assert parsed.unreadable[0].reason.endswith("(line 3, within the row)")


def test_json_lines_that_are_no_rows_cost_their_line_only(tmp_path):
    good = json.dumps(JSON_BASE).encode()
    data = b"\n".join([
        good, b'{"reference": "J2", "debtor_name": "L\xfcz"}', b"[" * 100_000 + b"]" * 100_000,
        b"not json", b"", good.replace(b"J1", b"J6")]) + b"\n"
    path = write(tmp_path, "a.jsonl", data)
    parsed = read_rows(path, "auto")
    assert [line for line, _ in parsed.rows] == [1, 6]
    reasons = {e.line: e.reason for e in parsed.unreadable}
    offset = data.index(b"\xfc")
    assert reasons[2] == f"not UTF-8: byte 0xfc at offset {offset} of the file"
    assert reasons[3] == "not JSON Recobro reads: nested too deeply"
    assert reasons[4].startswith("not JSON: Expecting value")
