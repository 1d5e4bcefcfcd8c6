"""Importing accounts into the real PostgreSQL: upsert by reference, bad
rows quarantined with their line (every value the database would refuse
among them: the good rows still import), a bad file changes nothing."""

import json
from datetime import date

import asyncpg
import pytest

from dialer.errors import ConfigError
from dialer.portfolio.importer import import_file, iter_report
from dialer.portfolio.importing import ImportDefaults
from dialer.portfolio.store import AccountStore

pytestmark = pytest.mark.lab

HEADER = "reference,debtor_name,balance,days_past_due,phone1,phone2,status\n"


@pytest.fixture
async def store(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=4)
    yield AccountStore(pool)
    await pool.close()


async def counts(store: AccountStore) -> tuple[int, int]:
    return (await store.pool.fetchval("SELECT count(*) FROM accounts"),
            await store.pool.fetchval("SELECT count(*) FROM phones"))


async def test_good_rows_are_stored_and_bad_ones_quarantined(store, tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text(HEADER + "A1,Ana,10.5,3,2125551030,+34912341030,\n"
                    "A2,Bob,abc,3,2125551031,,\n"
                    "A3,Cid,7,200,+525512341030,,paid\n"
                    "A4,Dee,7,20,555,,\n")
    outcome = await import_file(store, path, {}, ImportDefaults())
    assert [(e.line, e.reason.split(":")[0]) for e in outcome.errors] == [(3, "balance"),
                                                                          (5, "phone1")]
    assert outcome.report.inserted == 2 and outcome.report.quarantined == 2
    assert await counts(store) == (2, 3)
    zones = await store.pool.fetchval(
        "SELECT time_zones FROM phones WHERE number = '+34912341030'")
    assert zones == ["Europe/Madrid"]
    quarantined = await store.quarantine()
    assert [(q.line, q.source) for q in quarantined] == [(3, str(path)), (5, str(path))]
    assert '"balance": "abc"' in quarantined[0].raw


async def test_reimport_updates_instead_of_duplicating(store, tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text(HEADER + "A1,Ana,10.5,3,2125551030,+34912341030,\nA2,Bob,5,3,2125551031,,\n")
    await import_file(store, path, {}, ImportDefaults())
    await store.set_status("A2", "paid")
    path.write_text(HEADER + "A1,Ana Maria,99,40,2125551039,,\nA2,Bob,5,3,2125551031,,active\n")
    outcome = await import_file(store, path, {}, ImportDefaults())
    assert (outcome.report.inserted, outcome.report.updated) == (0, 2)
    assert outcome.report.retired == 2  # A1's two phones: kept for history, never dialed
    assert await counts(store) == (2, 4)
    row = await store.pool.fetchrow("SELECT * FROM accounts WHERE reference = 'A1'")
    assert (row["debtor_name"], float(row["balance"]), row["days_past_due"]) == \
        ("Ana Maria", 99.0, 40)
    phones = await store.pool.fetch("SELECT number FROM phones p JOIN accounts a "
                                    "ON a.id = p.account_id WHERE a.reference = 'A1' "
                                    "AND p.retired_at IS NULL")
    assert [p["number"] for p in phones] == ["+12125551039"]
    # A paid account is not brought back to life by an older file.
    assert await store.pool.fetchval("SELECT status FROM accounts WHERE reference = 'A2'") == "paid"


async def test_a_due_date_is_stored_updated_by_a_reimport_and_a_bad_one_quarantined(
        store, tmp_path):
    path = tmp_path / "accounts.csv"
    header = "reference,debtor_name,balance,days_past_due,phone1,due_date\n"
    path.write_text(header + "D1,Ana,10,0,2125551030,2027-01-08\n"
                    "D2,Bob,10,0,2125551031,2027-02-30\nD3,Cid,10,0,2125551032,\n")
    outcome = await import_file(store, path, {}, ImportDefaults())
    assert [(e.line, e.reason) for e in outcome.errors] == [
        (3, "due_date: '2027-02-30' is not a date of the calendar")]
    due = "SELECT reference, due_date FROM accounts ORDER BY reference"
    assert [tuple(r) for r in await store.pool.fetch(due)] == [("D1", date(2027, 1, 8)),
                                                              ("D3", None)]
    # The next file carries the next due date: the account's is replaced.
    path.write_text(header + "D1,Ana,10,0,2125551030,2027-02-08\n"
                    "D3,Cid,10,0,2125551032,2027-01-20\n")
    await import_file(store, path, {}, ImportDefaults())
    assert [tuple(r) for r in await store.pool.fetch(due)] == [("D1", date(2027, 2, 8)),
                                                              ("D3", date(2027, 1, 20))]


async def test_a_bad_file_changes_nothing(store, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "A1,Ana,10.5,3,2125551030,,\n")
    await import_file(store, good, {}, ImportDefaults())
    before = await counts(store)
    strict = tmp_path / "strict.csv"
    strict.write_text(HEADER + "A1,Changed,1,1,2125551030,,\nB1,Bad,x,1,2125551030,,\n")
    outcome = await import_file(store, strict, {}, ImportDefaults(), strict=True)
    assert outcome.report is None and outcome.errors[0].line == 3
    wrong_header = tmp_path / "header.csv"
    wrong_header.write_text("ref,name\nA1,Changed\n")
    with pytest.raises(ConfigError, match="required field"):
        await import_file(store, wrong_header, {}, ImportDefaults())
    assert await counts(store) == before
    assert await store.pool.fetchval("SELECT debtor_name FROM accounts") == "Ana"
    assert await store.quarantine() == []


async def test_json_lines_with_a_mapping(store, tmp_path):
    path = tmp_path / "accounts.jsonl"
    path.write_text('{"id": "J1", "nombre": "Luz", "saldo": 12, "dpd": 95, "tel": "+525512341030"}\n'
                    "not json\n"
                    '["a list"]\n')
    mapping = {"reference": "id", "debtor_name": "nombre", "balance": "saldo",
               "days_past_due": "dpd", "phone1": "tel"}
    outcome = await import_file(store, path, mapping, ImportDefaults())
    assert [(e.line, e.reason[:8]) for e in outcome.errors] == [(2, "not JSON"), (3, "not a JS")]
    assert await store.pool.fetchval("SELECT debtor_name FROM accounts") == "Luz"


def hostile_file(rows: int) -> tuple[bytes, dict[int, str]]:
    """A CSV of rows accounts (lines 2..rows+1) with bad ones spread
    through: the line -> the start of its reason. The tryout's values."""
    bad = {
        101: (b"B101,Ana,1e15,3", "balance: '1e15' is not an amount"),
        202: (b"B202,Ana,1e309,3", "balance: '1e309' is not an amount"),
        303: (b"B303,Ana,1000000000000,3", "balance: '1000000000000' is out of range"),
        404: (b"B404,Ana,10,99999999999", "days_past_due: '99999999999' is out of range"),
        505: (b"B505,Ana\x00Nul,10,3", "debtor_name: 'Ana\\x00Nul' has a NUL character"),
        606: (b"B606," + b"x" * 10 * 1024 * 1024 + b",10,3",
              "debtor_name: 10,485,760 characters, more than the 200 allowed"),
        707: (b"B707,Ana,1_000,3", "balance: '1_000' is not an amount"),
        808: ("B808,Ana,\u0661\u0660\u0660,3".encode(), "balance: '١٠٠' is not an amount"),
        909: (b'B909,"=HYPERLINK(""http://x.example"",""Pay"")",10,3',
              "debtor_name: '=HYPERLINK(\"http://x.example\",\"Pay\")' starts with '='"),
        1010: (b"B1010,Ana,10,3,+1 (212) 500-1200 ext 9",
               "phone1: '+1 (212) 500-1200 ext 9' has the extension 9"),
        1111: (b"B1111,Ana,1,000.50,3,+12125001111", "6 fields where the header has 5"),
        2345: (b"B2345,Ana,10,-3", "days_past_due: '-3' must be zero or more"),
        3001: (b"B3001,Jos\xe9,10,3", "debtor_name: not UTF-8: byte 0xe9 at offset"),
    }
    lines = [b"reference,debtor_name,balance,days_past_due,phone1"]
    for line in range(2, rows + 2):
        if line in bad:
            text = bad[line][0]
            lines.append(text if text.count(b",") >= 4 else text + b",+1212500%04d" % line)
        else:
            lines.append(b"G%d,Debtor %d,%d.%02d,%d,+1212500%04d"
                         % (line, line, line, line % 100, line % 400, line))
    return b"\n".join(lines) + b"\n", {line: reason for line, (_, reason) in bad.items()}


async def test_a_hostile_file_keeps_every_good_row_and_quarantines_each_bad_one(store, tmp_path):
    data, bad = hostile_file(3200)
    path = tmp_path / "hostile.csv"
    path.write_bytes(data)
    outcome = await import_file(store, path, {}, ImportDefaults())
    assert [e.line for e in outcome.errors] == sorted(bad)
    for error in outcome.errors:
        assert error.reason.startswith(bad[error.line]), error
    offset = data.index(b"Jos\xe9") + 3
    assert outcome.errors[-1].reason.endswith(f"offset {offset} of the file")
    assert outcome.report.inserted == 3200 - len(bad)
    stored = {r["reference"] for r in await store.pool.fetch("SELECT reference FROM accounts")}
    assert stored == {f"G{line}" for line in range(2, 3202) if line not in bad}
    quarantined = {q.line: q for q in await store.quarantine()}
    assert sorted(quarantined) == sorted(bad)
    assert "\\u0000" in quarantined[505].raw  # NUL kept as an escape, storable
    assert len(quarantined[606].raw) < 5000 and "characters in all" in quarantined[606].raw
    assert "Jos\ufffd" in quarantined[3001].raw

    # --strict: nothing changes, and every bad row is listed.
    before = await counts(store)
    strict = await import_file(store, path, {}, ImportDefaults(), strict=True)
    assert strict.report is None and len(strict.errors) == len(bad)
    listed = list(iter_report(strict))
    assert listed[0] == f"nothing imported: {len(bad)} bad row(s) and --strict"
    assert [line.split(":")[0] for line in listed[1:]] == [f"  line {n}" for n in sorted(bad)]
    assert await counts(store) == before


async def test_json_lines_values_of_the_wrong_kind_are_quarantined(store, tmp_path):
    path = tmp_path / "accounts.jsonl"
    good = {"reference": "J1", "debtor_name": "Luz", "balance": 12, "days_past_due": 95,
            "phone1": "+525512341030"}
    rows = [good, {**good, "reference": {"id": "J2"}}, {**good, "reference": "J3",
                                                        "debtor_name": "L\u0000z"},
            {**good, "reference": "J4", "debtor_name": "L\ud800z"},
            {**good, "reference": "J5", "balance": 1e309}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    outcome = await import_file(store, path, {}, ImportDefaults())
    assert [(e.line, e.reason.split(":")[0]) for e in outcome.errors] == [
        (2, "reference"), (3, "debtor_name"), (4, "debtor_name"), (5, "balance")]
    assert await store.pool.fetchval("SELECT array_agg(reference) FROM accounts") == ["J1"]
    raws = [q.raw for q in await store.quarantine()]
    assert '"L\\u0000z"' in raws[1] and '"L\\ud800z"' in raws[2]
