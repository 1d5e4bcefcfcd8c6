"""The AGI hooks an engineer calls from their own dialplan (docs/agi.md):
what a FastAGI request asks for, and the channel variables that answer
it. Pure: dialer.agi.server reads the request, asks the store and sets
the variables.

    AGI(agi://127.0.0.1:4573/lookup[,NUMBER])     who is calling
    AGI(agi://127.0.0.1:4573/gate,NUMBER,CAMPAIGN) may NUMBER be called now
    AGI(agi://127.0.0.1:4573/optout[,NUMBER])     NUMBER opts out

A number left out is the caller's (CALLERID(num))."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from enum import Enum

from dialer.agents.routing import balance_tier
from dialer.compliance.gate import Allowed, Decision

# Set on every request: empty when it was answered, else what was wrong
# with it (the hook's own variables are then left empty).
ERROR = "RECOBRO_AGI_ERROR"
LOOKUP = "RECOBRO_LOOKUP"  # found | unknown
ACCOUNT = "RECOBRO_ACCOUNT"  # the account's reference
LANGUAGE = "RECOBRO_LANGUAGE"  # es | en
BALANCE_TIER = "RECOBRO_BALANCE_TIER"  # low | mid | high, as skill routing has them
RISK = "RECOBRO_RISK"  # the account's risk score, 0 (sure to pay) .. 1 (sure not to)
GATE = "RECOBRO_GATE"  # allowed | refused
GATE_RULE = "RECOBRO_GATE_RULE"  # the refusing rule (dialer.compliance.gate.Rule)
GATE_UNTIL = "RECOBRO_GATE_UNTIL"  # when to ask again, ISO 8601 UTC ("": never)
OPTOUT = "RECOBRO_OPTOUT"  # done

FOUND, UNKNOWN = "found", "unknown"
ALLOWED, REFUSED = "allowed", "refused"
DONE = "done"


class Hook(Enum):
    """The hooks, by the path of their agi:// URL."""

    LOOKUP = "lookup"
    GATE = "gate"
    OPTOUT = "optout"


# Each hook's variables, all set on every answer (empty when they do not
# apply), so that a value from an earlier call of the hook never lingers.
VARIABLES = {
    Hook.LOOKUP: (LOOKUP, ACCOUNT, LANGUAGE, BALANCE_TIER, RISK),
    Hook.GATE: (GATE, GATE_RULE, GATE_UNTIL),
    Hook.OPTOUT: (OPTOUT,),
}
# Asterisk's agi_callerid when the channel has no caller number.
NO_CALLER = ("", "unknown")
_CONTROL = str.maketrans("", "", "".join(map(chr, [*range(32), 127])))


@dataclass(frozen=True)
class HookRequest:
    """A request a hook can answer."""

    hook: Hook
    number: str  # as given (the argument, or the caller ID); not yet checked
    campaign: str = ""  # the gate's


@dataclass(frozen=True)
class BadRequest:
    """A request no hook can answer; problem says why, in words."""

    hook: Hook | None
    problem: str


def _argument(headers: Mapping[str, str], index: int) -> str:
    return headers.get(f"agi_arg_{index}", "").strip()


def parse_request(headers: Mapping[str, str]) -> HookRequest | BadRequest:
    """The hook a FastAGI request's headers (agi_network_script,
    agi_arg_N, agi_callerid) ask for, or what is wrong with them. Problems
    name the hook and the argument, never quote a value (a caller's
    digits could be anything)."""
    script = headers.get("agi_network_script", "").strip().strip("/")
    try:
        hook = Hook(script)
    except ValueError:
        choices = ", ".join(h.value for h in Hook)
        return BadRequest(None, f"{'no such hook' if script else 'no hook in the URL'}: "
                                f"agi://HOST:PORT/ then one of {choices}")
    if hook is Hook.GATE:
        number, campaign = _argument(headers, 1), _argument(headers, 2)
        if not number:
            return BadRequest(hook, "gate: argument 1, the number to call, is missing")
        if not campaign:
            return BadRequest(hook, "gate: argument 2, the campaign's name, is missing")
        return HookRequest(hook, number, campaign)
    number = _argument(headers, 1) or headers.get("agi_callerid", "").strip()
    if number in NO_CALLER:
        return BadRequest(hook, f"{hook.value}: no number: the call has no caller ID and "
                                "argument 1 is missing")
    return HookRequest(hook, number)


def not_a_number(request: HookRequest) -> BadRequest:
    """The request's number is no phone number."""
    given = "argument 1" if request.hook is Hook.GATE else "argument 1 or the caller ID"
    return BadRequest(request.hook, f"{request.hook.value}: {given} is not a phone number")


def no_campaign(request: HookRequest) -> BadRequest:
    """The gate was asked about a campaign that does not exist."""
    return BadRequest(request.hook, f"gate: argument 2: no campaign named "
                                    f"{_printable(request.campaign)[:64]!r}")


def _answer(hook: Hook, values: Mapping[str, str]) -> dict[str, str]:
    """Every variable of the hook (the ones not given empty), and no error."""
    return {ERROR: "", **{name: values.get(name, "") for name in VARIABLES[hook]}}


def found(reference: str, language: str, balance: Decimal, risk_score: float) -> dict[str, str]:
    """The lookup's answer for a caller identified as an account."""
    return _answer(Hook.LOOKUP, {LOOKUP: FOUND, ACCOUNT: reference, LANGUAGE: language,
                                 BALANCE_TIER: balance_tier(balance), RISK: f"{risk_score:g}"})


def unknown() -> dict[str, str]:
    """The lookup's answer for a caller who is no one's (or several's)."""
    return _answer(Hook.LOOKUP, {LOOKUP: UNKNOWN})


def gate_answer(decision: Decision) -> dict[str, str]:
    """The gate's decision as variables: the refusing rule, and until when
    it holds (UTC, to the second; empty: for good)."""
    if isinstance(decision, Allowed):
        return _answer(Hook.GATE, {GATE: ALLOWED})
    until = ("" if decision.until is None
             else decision.until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _answer(Hook.GATE, {GATE: REFUSED, GATE_RULE: decision.rule.value,
                               GATE_UNTIL: until})


def opted_out() -> dict[str, str]:
    """The opt-out's answer: recorded."""
    return _answer(Hook.OPTOUT, {OPTOUT: DONE})


def problem(bad: BadRequest) -> dict[str, str]:
    """A bad request's answer: the problem, and the hook's variables (if
    the hook is known) emptied, so a dialplan never reads a stale value."""
    names = VARIABLES[bad.hook] if bad.hook is not None else ()
    return {ERROR: bad.problem, **{name: "" for name in names}}


def _printable(text: str) -> str:
    return text.translate(_CONTROL)


def set_variable(name: str, value: str) -> str:
    """The AGI command that sets a channel variable (one line: control
    characters dropped; quotes and backslashes escaped as Asterisk's
    argument parser reads them)."""
    quoted = _printable(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'SET VARIABLE {name} "{quoted}"'
