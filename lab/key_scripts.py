"""What the lab's keying debtors key (number plan behaviour 0, PP the
script): an account number, menu keys, a test card, its expiry and CVV,
each after the prompt that asks for it. The scripts hold Stripe's test
card numbers, which live in tests/ only: they are read from
tests/fixtures/demo_cards.toml, which the demo and the tests share and a
wheel does not ship. Parsing is pure; `load` reads the file."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dialer.errors import LabError
from dialer.portfolio.model import AnsweredTo
from lab.number_plan import KEY_SCRIPT_STAY_SECONDS
from lab.pcap import EVENTS, keying_seconds

SCRIPTS_FILE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "demo_cards.toml"
PAUSE = ","  # a second's pause in a script


@dataclass(frozen=True)
class KeyScript:
    """One debtor's script: the account it proves (its first keys, then
    #; an agent campaign's debtor proves none), what it does in words, and
    its keys (PAUSE a second's pause)."""

    number: str  # PP: two digits
    account: str
    what: str
    keys: str
    # Seconds on the line after the leading pause, then the debtor hangs up
    # (if Recobro has not).
    stay_s: int = KEY_SCRIPT_STAY_SECONDS
    # The campaign whose calls the keys follow: a press-to-pay one's
    # prompts, or an agent's, who hands the debtor to the payment capture.
    answered_to: AnsweredTo = AnsweredTo.SELF_SERVICE

    @property
    def seconds(self) -> float:
        """How long keying it takes (lab.pcap's keys and pauses)."""
        return keying_seconds(self.keys)


def parse(text: str, where: str = "key scripts") -> dict[str, KeyScript]:
    """The scripts of a TOML text ([scripts."PP"] tables with account,
    what and keys, and optionally stay: seconds on the line at most, and
    answered_to: the campaign's --answered-to), by PP; LabError names the
    table and field at fault."""
    try:
        tables = tomllib.loads(text).get("scripts", {})
    except tomllib.TOMLDecodeError as error:
        raise LabError(f"{where}: {error}") from None
    scripts = {}
    for number, table in tables.items():
        at = f'{where}, [scripts."{number}"]'
        if len(number) != 2 or not number.isdigit():
            raise LabError(f"{at}: a script's name is its two-digit PP")
        fields = {name: table.get(name) for name in ("account", "what", "keys")}
        missing = [name for name, value in fields.items() if not isinstance(value, str)]
        if missing or set(table) - {*fields, "stay", "answered_to"}:
            raise LabError(f"{at}: account, what and keys, each a string, and optionally "
                           f"stay and answered_to (has {', '.join(sorted(table)) or 'nothing'})")
        stay = table.get("stay", KEY_SCRIPT_STAY_SECONDS)
        if isinstance(stay, bool) or not isinstance(stay, int) \
                or not 1 <= stay <= KEY_SCRIPT_STAY_SECONDS:
            raise LabError(f"{at}: stay {stay!r}: whole seconds from 1 to "
                           f"{KEY_SCRIPT_STAY_SECONDS}")
        answered_to = table.get("answered_to", AnsweredTo.SELF_SERVICE.value)
        if answered_to not in {a.value for a in AnsweredTo}:
            raise LabError(f"{at}: answered_to {answered_to!r}: "
                           f"{' or '.join(a.value for a in AnsweredTo)}")
        keys = fields["keys"]
        wrong = sorted({k for k in keys if k != PAUSE and k not in EVENTS})
        if wrong:
            raise LabError(f"{at}: keys holds {''.join(wrong)!r}: only 0-9, *, # and "
                           f"{PAUSE!r} (a second's pause)")
        scripts[number] = KeyScript(number, fields["account"], fields["what"], keys, stay,
                                    AnsweredTo(answered_to))
    return scripts


def load(path: Path = SCRIPTS_FILE) -> dict[str, KeyScript]:
    """The scripts of the file; LabError when it is missing (an installed
    wheel has no tests/) or wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabError(f"the lab's key scripts ({path}) are missing: they hold test card "
                       "numbers, which live in a checkout's tests/ only (a wheel has none); "
                       "run this from a clone of Recobro's repository") from None
    return parse(text, str(path))


def load_if_present(path: Path = SCRIPTS_FILE) -> Mapping[str, KeyScript]:
    """The scripts, or none when the file is missing (the lab then has no
    keying debtors; the demo, which needs them, says so)."""
    return load(path) if path.is_file() else {}
