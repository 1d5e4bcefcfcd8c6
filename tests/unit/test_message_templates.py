"""Templates (issue 15): jinja2's sandbox over the variables listed per
trigger; an unknown variable, broken syntax or unknown filter refused on
save naming the field and line; the Reg F opt-out notice required."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dialer.messages.model import Channel, Trigger, is_dunning
from dialer.messages.sms import Encoding, measure
from dialer.messages.templates import (
    AccountView,
    TemplateRefused,
    account_values,
    allowed_variables,
    check_template,
    day,
    money,
    opt_out_notice,
    render,
)

SMS = "Hola {{ first_name }}, su saldo es {{ balance }}. Pague: {{ payment_link }}\n{{ opt_out }}"


def refusal(body: str, *, trigger: Trigger = Trigger.NO_INTERACTION,
            channel: Channel = Channel.SMS, subject: str | None = None) -> str:
    with pytest.raises(TemplateRefused) as caught:
        check_template(trigger, channel, "es", body, subject)
    return str(caught.value)


def test_a_good_template_is_checked_by_rendering_sample_values() -> None:
    rendered = check_template(Trigger.NO_INTERACTION, Channel.SMS, "es", SMS, None)
    assert rendered.body.startswith("Hola Ana, su saldo es 1.234,56 USD. Pague: https://")
    assert rendered.body.endswith("Responda BAJA para no recibir mensajes.")


def test_an_unknown_variable_is_refused_naming_it_and_its_line() -> None:
    message = refusal("Hola {{ first_name }}\n{{ opt_out }}\n\n{{ ssn }} {{ x }}")
    assert message.startswith("body line 4: unknown variable 'ssn' (allowed: balance, ")


def test_a_variable_of_another_trigger_is_unknown_here() -> None:
    body = "Recibimos {{ amount }} con {{ card }}. {{ opt_out }}"
    assert check_template(Trigger.RECEIPT, Channel.SMS, "es", body, None)
    assert refusal(body).startswith("body line 1: unknown variable 'amount'")


def test_broken_syntax_is_refused_with_its_line() -> None:
    message = refusal("Hola\n{{ opt_out }}\n{% if first_name %}sin cerrar")
    assert message.startswith("body line 3: Unexpected end of template.")
    assert "'endif'" in message
    assert refusal("Hola {{ first_name }\n{{ opt_out }}").startswith("body line 1: ")


def test_an_unknown_filter_is_refused_with_its_line() -> None:
    assert refusal("{{ opt_out }}\n{{ first_name | shout }}") == (
        "body line 2: No filter named 'shout'.")


def test_variables_set_in_the_template_are_its_own() -> None:
    body = "{% set n = first_name | upper %}{% for c in [1] %}{{ n }}{{ c }}{% endfor %} {{ opt_out }}"
    assert check_template(Trigger.NO_INTERACTION, Channel.SMS, "es", body, None).body.startswith(
        "ANA1 ")


def test_the_opt_out_notice_is_required() -> None:
    assert "opt-out notice 'Responda BAJA para no recibir mensajes.' is missing" in refusal(
        "Hola {{ first_name }}")
    assert "missing" in refusal("{% if balance == 'x' %}{{ opt_out }}{% endif %}")


def test_a_render_without_the_notice_fails_too() -> None:
    body = "{% if first_name == 'Ana' %}{{ opt_out }}{% endif %}"
    values = {"first_name": "Bo", "opt_out": opt_out_notice(Channel.SMS, "en")}
    with pytest.raises(TemplateRefused, match="missing"):
        render(Trigger.NO_INTERACTION, Channel.SMS, "en", body, None, values)


def test_the_opt_out_confirmation_needs_no_notice_and_has_no_link() -> None:
    body = "{{ first_name }}: no recibirá más mensajes."
    rendered = check_template(Trigger.OPT_OUT_CONFIRMATION, Channel.SMS, "es", body, None)
    assert rendered.body == "Ana: no recibirá más mensajes."
    assert refusal("{{ payment_link }}", trigger=Trigger.OPT_OUT_CONFIRMATION).startswith(
        "body line 1: unknown variable 'payment_link' (allowed: debtor_name, first_name, "
        "reference_tail)")


def test_the_sandbox_refuses_python_internals() -> None:
    assert "unsafe" in refusal("{{ first_name.__class__.__mro__ }} {{ opt_out }}")


def test_an_email_needs_a_subject_and_an_sms_has_none() -> None:
    assert refusal(SMS, channel=Channel.EMAIL) == "subject: an e-mail template needs one"
    assert refusal(SMS, subject="Hola") == "subject: an SMS has none"
    assert refusal(SMS, channel=Channel.EMAIL, subject="Hola {{ nombre }}").startswith(
        "subject line 1: unknown variable 'nombre'")
    email = check_template(Trigger.NO_INTERACTION, Channel.EMAIL, "en",
                           "Dear {{ debtor_name }}\n{{ opt_out }}", "Balance  {{ balance }}")
    assert email.subject == "Balance 1,234.56 USD"


def test_the_notices_are_gsm7_so_spanish_texts_stay_160_a_segment() -> None:
    for language in ("es", "en"):
        assert measure(opt_out_notice(Channel.SMS, language)).encoding is Encoding.GSM7


def test_money_dates_and_account_values_are_written_for_the_language() -> None:
    assert money(Decimal("1234567.5"), "EUR", "es") == "1.234.567,50 EUR"
    assert money(Decimal("1234567.5"), "USD", "en") == "1,234,567.50 USD"
    assert day(date(2027, 1, 2), "es") == "2 de enero de 2027"
    assert day(date(2027, 1, 2), "en") == "January 2, 2027"
    values = account_values(AccountView("ACC-000123", "Ana María López", Decimal(10), "MXN"),
                            Channel.SMS, "es", "https://x")
    assert values["first_name"] == "Ana" and values["reference_tail"] == "0123"
    assert set(values) == set(allowed_variables(Trigger.NO_INTERACTION))


def test_receipts_do_not_dun_and_reminders_do() -> None:
    assert not is_dunning(Trigger.RECEIPT) and not is_dunning(Trigger.OPT_OUT_CONFIRMATION)
    assert is_dunning(Trigger.NO_INTERACTION) and is_dunning(Trigger.PROMISE_REMINDER)
