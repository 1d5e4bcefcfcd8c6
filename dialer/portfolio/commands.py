"""What `recobro accounts ...` and `recobro dnc` do: import accounts, show
the quarantine, change an account's status, add do-not-call entries."""

from __future__ import annotations

from pathlib import Path

from dialer.errors import ConfigError
from dialer.portfolio.importer import import_file, iter_report, load_mapping
from dialer.portfolio.importing import ImportDefaults, parse_phone
from dialer.portfolio.model import AccountStatus, DoNotCall, DoNotCallReason, Language
from dialer.portfolio.store import AccountStore
from dialer.store.database import configured_database


def import_defaults(region: str, currency: str, language: str) -> ImportDefaults:
    """What rows without these columns get, from an operator's words
    (`recobro accounts import --region --currency --language`, POST /imports)."""
    return ImportDefaults(region=region.upper(), currency=currency.upper(),
                          language=Language(language))


async def import_accounts(path: Path, mapping: Path | None, file_format: str, region: str,
                          currency: str, language: str, strict: bool) -> int:
    defaults = import_defaults(region, currency, language)
    async with configured_database() as pool:
        outcome = await import_file(AccountStore(pool), path, load_mapping(mapping), defaults,
                                    file_format=file_format, strict=strict)
    for line in iter_report(outcome):
        print(line)
    return 1 if outcome.report is None else 0


async def show_quarantine(batch: int | None) -> int:
    async with configured_database() as pool:
        rows = await AccountStore(pool).quarantine(batch)
    for row in rows:
        print(f"batch {row.batch_id} {row.source} line {row.line}: {row.reason}")
    if not rows:
        print("the quarantine is empty")
    return 0


async def set_account_status(reference: str, status: str) -> int:
    """A payment, settlement, dispute or closure: dialing stops at once."""
    async with configured_database() as pool:
        found = await AccountStore(pool).set_status(reference, AccountStatus(status).value)
    if not found:
        raise ConfigError(f"no account with reference {reference!r}")
    print(f"account {reference}: {status}")
    return 0


def parse_do_not_call(number: str | None, reference: str | None, reason: str,
                      region: str) -> DoNotCall:
    """A do-not-call entry from an operator's words: a number (written as
    dialed in region, or E.164) or an account's reference; ConfigError
    naming what is wrong."""
    if (number is None) == (reference is None):
        raise ConfigError("give a number or an account reference (one of them)")
    if number is not None:
        try:
            number = parse_phone(number, "number", ImportDefaults(region=region.upper())).number
        except ValueError as error:
            raise ConfigError(str(error)) from None
    return DoNotCall(DoNotCallReason(reason), number=number, reference=reference)


async def add_do_not_call(number: str | None, reference: str | None, reason: str,
                          region: str) -> int:
    entry = parse_do_not_call(number, reference, reason, region)
    async with configured_database() as pool:
        await AccountStore(pool).add_do_not_call(entry)
    print(f"do not call: {entry.number or 'account ' + str(reference)} ({reason})")
    return 0
