"""The freshness check's rule (issue 13): a database is up to date when
yoyo's bookkeeping lists every migration here and none that is not; the
refusal names the migrations and the fix in one line."""

from __future__ import annotations

from yoyo import read_migrations
from yoyo.migrations import get_migration_hash

from dialer.store.migrate import MIGRATIONS, SchemaGap, gap_in_words, schema_gap

WHERE = "127.0.0.1:5432/recobro"
IDS = [m.id for m in read_migrations(str(MIGRATIONS))]


def rows(ids: list[str]) -> list[tuple[str, str]]:
    """yoyo's bookkeeping rows for these migration ids."""
    return [(get_migration_hash(i), i) for i in ids]


def test_the_migrations_are_the_files_in_name_order() -> None:
    assert IDS[:4] == ["0001.calls", "0002.campaigns", "0003.history", "0004.not_placed"]
    assert IDS == sorted(IDS)


def test_every_migration_applied_is_up_to_date() -> None:
    assert not schema_gap(rows(IDS))


def test_a_database_never_migrated_has_no_schema() -> None:
    gap = schema_gap([])
    assert gap == SchemaGap(tuple(IDS), (), empty=True)
    assert gap_in_words(gap, WHERE) == (
        f"the database at {WHERE} has no Recobro schema: run `recobro db migrate`")


def test_a_database_at_the_baseline_lacks_the_later_migrations_by_name() -> None:
    gap = schema_gap(rows(IDS[:2]))
    assert gap.missing == tuple(IDS[2:]) and not gap.unknown
    assert gap_in_words(gap, WHERE) == (
        f"the database at {WHERE} lacks migrations {', '.join(IDS[2:])}: "
        "run `recobro db migrate`")


def test_one_missing_migration_is_said_in_the_singular() -> None:
    words = gap_in_words(schema_gap(rows(IDS[:-1])), WHERE)
    assert words == f"the database at {WHERE} lacks migration {IDS[-1]}: run `recobro db migrate`"


def test_a_migration_from_newer_code_is_refused_naming_it() -> None:
    gap = schema_gap(rows([*IDS, "9999.future"]))
    assert gap.unknown == ("9999.future",) and not gap.missing
    assert gap_in_words(gap, WHERE) == (
        f"the database at {WHERE} has migration 9999.future, which this Recobro does not "
        "know (a newer Recobro applied it): run that version, or upgrade this one")


def test_missing_and_unknown_together_are_one_line() -> None:
    words = gap_in_words(schema_gap(rows([*IDS[:-1], "9999.future"])), WHERE)
    assert words == (f"the database at {WHERE} lacks migration {IDS[-1]} and has migration "
                     "9999.future, which this Recobro does not know: run `recobro db migrate` "
                     "with a Recobro that has them all")
    assert "\n" not in words


def test_a_row_without_an_id_is_named_by_its_hash() -> None:
    # yoyo's table allows a row without its migration_id.
    gap = schema_gap([*rows(IDS), ("ab" * 32, None)])
    assert gap.unknown == ("ab" * 32,)
