"""Importing accounts into the real PostgreSQL: upsert by reference, bad
rows quarantined with their line, a bad file changes nothing."""

import asyncpg
import pytest

from dialer.collections.importing import ImportDefaults
from dialer.errors import ConfigError
from dialer.importer import import_file
from dialer.store.accounts import AccountStore

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
    assert await counts(store) == (2, 2)
    row = await store.pool.fetchrow("SELECT * FROM accounts WHERE reference = 'A1'")
    assert (row["debtor_name"], float(row["balance"]), row["days_past_due"]) == \
        ("Ana Maria", 99.0, 40)
    phones = await store.pool.fetch("SELECT number FROM phones p JOIN accounts a "
                                    "ON a.id = p.account_id WHERE a.reference = 'A1'")
    assert [p["number"] for p in phones] == ["+12125551039"]
    # A paid account is not brought back to life by an older file.
    assert await store.pool.fetchval("SELECT status FROM accounts WHERE reference = 'A2'") == "paid"


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
