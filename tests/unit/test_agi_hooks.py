"""The AGI hooks' pure side: what a FastAGI request asks for, the channel
variables each answer sets, and the SET VARIABLE command that sets them."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from dialer.agi import hooks
from dialer.agi.hooks import BadRequest, Hook, HookRequest, parse_request
from dialer.compliance.gate import Allowed, Refused, Rule
from dialer.portfolio.model import Phone, PhoneKind

NY = Phone("+12125550181", PhoneKind.MOBILE, True, True, "US", ("America/New_York",))


def headers(script: str, *args: str, caller: str = "+12125550181") -> dict[str, str]:
    """What Asterisk sends for AGI(agi://127.0.0.1:4573/script,args...)."""
    return {"agi_network": "yes", "agi_network_script": script, "agi_callerid": caller,
            "agi_channel": "PJSIP/recobro-trunk-00000001",
            **{f"agi_arg_{i}": arg for i, arg in enumerate(args, start=1)}}


def test_lookup_and_optout_take_the_caller_id_unless_given_a_number():
    assert parse_request(headers("lookup")) == HookRequest(Hook.LOOKUP, "+12125550181")
    assert parse_request(headers("lookup", "3125550182")) == HookRequest(Hook.LOOKUP,
                                                                         "3125550182")
    assert parse_request(headers("optout")) == HookRequest(Hook.OPTOUT, "+12125550181")


def test_the_gate_takes_a_number_and_a_campaign():
    assert parse_request(headers("gate", "+12125550181", "early")) == HookRequest(
        Hook.GATE, "+12125550181", "early")


@pytest.mark.parametrize(("request_headers", "hook", "problem"), [
    (headers("lookup", caller="unknown"), Hook.LOOKUP,
     "lookup: no number: the call has no caller ID and argument 1 is missing"),
    (headers("optout", caller=""), Hook.OPTOUT,
     "optout: no number: the call has no caller ID and argument 1 is missing"),
    (headers("gate"), Hook.GATE, "gate: argument 1, the number to call, is missing"),
    (headers("gate", "+12125550181"), Hook.GATE,
     "gate: argument 2, the campaign's name, is missing"),
    (headers("lookups"), None,
     "no such hook: agi://HOST:PORT/ then one of lookup, gate, optout"),
    ({"agi_callerid": "+12125550181"}, None,
     "no hook in the URL: agi://HOST:PORT/ then one of lookup, gate, optout"),
])
def test_bad_requests_name_the_problem(request_headers, hook, problem):
    assert parse_request(request_headers) == BadRequest(hook, problem)


def test_a_problem_never_quotes_the_digits_it_was_given():
    card_like = "4242424242424242"
    bad = parse_request(headers(card_like))
    assert isinstance(bad, BadRequest) and card_like not in bad.problem
    number = hooks.not_a_number(HookRequest(Hook.GATE, card_like, "early"))
    assert card_like not in number.problem
    assert number.problem == "gate: argument 1 is not a phone number"


def test_a_known_caller_gets_the_account_language_tier_and_risk():
    assert hooks.found("IN-ES", "es", Decimal("300.00"), 0.5) == {
        "RECOBRO_AGI_ERROR": "", "RECOBRO_LOOKUP": "found", "RECOBRO_ACCOUNT": "IN-ES",
        "RECOBRO_LANGUAGE": "es", "RECOBRO_BALANCE_TIER": "low", "RECOBRO_RISK": "0.5"}
    # Tiers as skill routing has them: from 1,000 mid, from 5,000 high.
    assert hooks.found("A", "en", Decimal(1000), 0.0)["RECOBRO_BALANCE_TIER"] == "mid"
    assert hooks.found("A", "en", Decimal(9000), 0.9)["RECOBRO_BALANCE_TIER"] == "high"


def test_an_unknown_caller_empties_what_an_earlier_lookup_set():
    assert hooks.unknown() == {
        "RECOBRO_AGI_ERROR": "", "RECOBRO_LOOKUP": "unknown", "RECOBRO_ACCOUNT": "",
        "RECOBRO_LANGUAGE": "", "RECOBRO_BALANCE_TIER": "", "RECOBRO_RISK": ""}


def test_the_gate_answers_allowed_or_the_rule_and_until_when_in_utc():
    assert hooks.gate_answer(Allowed(NY)) == {
        "RECOBRO_AGI_ERROR": "", "RECOBRO_GATE": "allowed", "RECOBRO_GATE_RULE": "",
        "RECOBRO_GATE_UNTIL": ""}
    madrid_nine = datetime(2026, 12, 4, 9, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert hooks.gate_answer(Refused(Rule.CALLING_WINDOW, "outside", madrid_nine)) == {
        "RECOBRO_AGI_ERROR": "", "RECOBRO_GATE": "refused",
        "RECOBRO_GATE_RULE": "calling_window", "RECOBRO_GATE_UNTIL": "2026-12-04T08:00:30Z"}
    assert hooks.gate_answer(Refused(Rule.OPT_OUT, "opted out", None))[
        "RECOBRO_GATE_UNTIL"] == ""


def test_a_problem_empties_the_hooks_variables():
    bad = BadRequest(Hook.GATE, "gate: argument 1, the number to call, is missing")
    assert hooks.problem(bad) == {
        "RECOBRO_AGI_ERROR": "gate: argument 1, the number to call, is missing",
        "RECOBRO_GATE": "", "RECOBRO_GATE_RULE": "", "RECOBRO_GATE_UNTIL": ""}
    assert hooks.problem(BadRequest(None, "no such hook")) == {"RECOBRO_AGI_ERROR": "no such hook"}


def test_the_opt_out_answers_done():
    assert hooks.opted_out() == {"RECOBRO_AGI_ERROR": "", "RECOBRO_OPTOUT": "done"}


def test_set_variable_quotes_and_keeps_to_one_line():
    assert hooks.set_variable("RECOBRO_ACCOUNT", "A-1") == 'SET VARIABLE RECOBRO_ACCOUNT "A-1"'
    assert hooks.set_variable("X", 'say "hi" \\ bye') == r'SET VARIABLE X "say \"hi\" \\ bye"'
    assert hooks.set_variable("X", "two\nlines\r") == 'SET VARIABLE X "twolines"'
    assert hooks.set_variable("X", "") == 'SET VARIABLE X ""'
