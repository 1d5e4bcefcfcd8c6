"""Landed migrations never change (issue 13).

yoyo records a migration as applied by its id (the file name) and never
runs it again, so editing a landed file changes fresh installs only: a
database migrated before the edit silently lacks it. The rule: every
migration on main has landed and is listed, with its SHA-256, in
`dialer/store/migrations/landed.sha256` (`sha256sum` format). A listed
file must keep its bytes and stay; a new migration must sort after every
listed one and is added to the list in the commit that adds it (the
failure prints the line)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dialer.store.migrate import MIGRATIONS

MANIFEST = MIGRATIONS / "landed.sha256"
WHERE = "dialer/store/migrations"


def is_migration(path: Path) -> bool:
    """A file yoyo reads as a migration (or a migration's rollback)."""
    return path.is_file() and path.suffix in {".sql", ".py"}


def parse_manifest(text: str) -> tuple[dict[str, str], list[str]]:
    """name -> SHA-256 from `sha256sum` lines (# comments and blank lines
    skipped), and the problems with the lines themselves."""
    landed: dict[str, str] = {}
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, _, name = line.partition("  ")
        name = name.lstrip("*")  # sha256sum's binary-mode marker
        if len(digest) != 64 or not name or "/" in name:
            problems.append(f"landed.sha256 line {number} is not `<sha256>  <file name>` "
                            f"(as `sha256sum` writes it): {line!r}")
        elif name in landed:
            problems.append(f"landed.sha256 lists {name} twice (line {number}): keep one")
        else:
            landed[name] = digest.lower()
    return landed, problems


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def landed_problems(manifest: str, files: dict[str, bytes]) -> list[str]:
    """Every way the migration files (name -> content) break the rule,
    each said with its fix."""
    landed, problems = parse_manifest(manifest)
    last = max(landed, default="")
    for name, digest in landed.items():
        if name not in files:
            problems.append(f"{name} has landed and is gone: restore it (`git log -- "
                            f"{WHERE}/{name}`); a database that ran it still has it")
        elif sha256(files[name]) != digest:
            problems.append(
                f"{name} has landed and changed since: yoyo never re-applies a migration it "
                "has run, so a database migrated before the change would silently lack it. "
                f"Restore it (`git log -p -- {WHERE}/{name}` shows the change; its landed "
                f"SHA-256 is {digest}) and make the change in a new migration that sorts "
                f"after {last}")
    for name in sorted(set(files) - set(landed)):
        if name < last:
            problems.append(
                f"{name} is new but sorts before {last}, which has landed: yoyo would run it "
                "after every landed migration on an existing database and in name order on a "
                f"fresh one; rename it to sort after {last}")
        else:
            problems.append(f"{name} is new: add this line to {WHERE}/landed.sha256 in the "
                            f"commit that adds the migration: {sha256(files[name])}  {name}")
    return problems


def test_landed_migrations_are_unchanged_and_every_migration_is_listed() -> None:
    files = {p.name: p.read_bytes() for p in sorted(MIGRATIONS.iterdir()) if is_migration(p)}
    problems = landed_problems(MANIFEST.read_text(), files)
    assert not problems, "\n".join(problems)


def test_the_manifest_is_not_a_migration_yoyo_would_run() -> None:
    from yoyo import read_migrations

    assert "landed" not in [m.id for m in read_migrations(str(MIGRATIONS))]


# The rule itself, on made-up files.

FIRST, SECOND = b"CREATE TABLE a (id int);\n", b"CREATE TABLE b (id int);\n"
MANIFEST_TEXT = (f"# landed\n{sha256(FIRST)}  0001.a.sql\n"
                 f"{sha256(SECOND)}  0002.b.sql\n")


def test_listed_and_unchanged_is_fine() -> None:
    assert landed_problems(MANIFEST_TEXT, {"0001.a.sql": FIRST, "0002.b.sql": SECOND}) == []


def test_an_edited_landed_migration_is_named_with_the_fix() -> None:
    edited = SECOND + b"ALTER TABLE b ADD COLUMN c int;\n"
    [problem] = landed_problems(MANIFEST_TEXT, {"0001.a.sql": FIRST, "0002.b.sql": edited})
    assert problem.startswith("0002.b.sql has landed and changed since")
    assert "new migration that sorts after 0002.b.sql" in problem


def test_a_landed_migration_that_disappeared_is_named() -> None:
    [problem] = landed_problems(MANIFEST_TEXT, {"0002.b.sql": SECOND})
    assert problem.startswith("0001.a.sql has landed and is gone: restore it")


def test_a_new_migration_gets_the_exact_line_to_add() -> None:
    new = b"CREATE TABLE c (id int);\n"
    [problem] = landed_problems(MANIFEST_TEXT, {"0001.a.sql": FIRST, "0002.b.sql": SECOND,
                                                "0003.c.sql": new})
    assert problem.endswith(f": {sha256(new)}  0003.c.sql")
    # The line it prints makes the manifest whole.
    line = problem.rpartition(": ")[2]
    files = {"0001.a.sql": FIRST, "0002.b.sql": SECOND, "0003.c.sql": new}
    assert landed_problems(MANIFEST_TEXT + line + "\n", files) == []


def test_a_new_migration_sorting_before_a_landed_one_is_refused() -> None:
    [problem] = landed_problems(MANIFEST_TEXT, {"0001.a.sql": FIRST, "0002.b.sql": SECOND,
                                                "0001b.late.sql": b"SELECT 1;\n"})
    assert problem.startswith("0001b.late.sql is new but sorts before 0002.b.sql")


@pytest.mark.parametrize("line", ["0001.a.sql", f"{sha256(FIRST)} 0001.a.sql",
                                  f"{sha256(FIRST)[:10]}  0001.a.sql"])
def test_a_malformed_manifest_line_is_named(line: str) -> None:
    _, problems = parse_manifest(line + "\n")
    assert problems and problems[0].startswith("landed.sha256 line 1 is not")


def test_a_file_listed_twice_is_named() -> None:
    _, problems = parse_manifest(MANIFEST_TEXT + f"{sha256(FIRST)}  0001.a.sql\n")
    assert problems == ["landed.sha256 lists 0001.a.sql twice (line 4): keep one"]
