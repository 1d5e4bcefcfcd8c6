"""Message templates: jinja2 in its sandbox, over a listed set of
variables per trigger. A template is checked when it is saved (its syntax,
every variable it reads, and that its text carries the opt-out notice) and
rendered the same way for a preview as for the message sent, so that the
two are equal byte for byte.

Reg F (12 CFR 1006.6(e)) wants a clear way to opt out in every electronic
message. Recobro refuses a template that does not carry it rather than
appending it: what the collections team previews (and, for an SMS, the
segments it is charged for) is then exactly what is sent. The notice is
the variable `opt_out`, the channel's and language's fixed sentence; a
render that lacks it (a notice left inside an `if`) fails as well."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from jinja2 import StrictUndefined, Template, TemplateError, nodes
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import SandboxedEnvironment

from dialer.messages.model import Channel, Trigger

LANGUAGES = ("es", "en")
SEGMENTS = ("", "early", "mid", "late")  # '': any segment the campaign has no template for
MAX_BODY = 10_000  # characters of a template's source
MAX_SUBJECT = 200

# The opt-out notice, by channel and language. The Spanish SMS has no
# accented vowel: an á would send every Spanish text as UCS-2 (70 a segment).
OPT_OUT_NOTICE = {
    (Channel.SMS, "en"): "Reply STOP to stop texts.",
    (Channel.SMS, "es"): "Responda BAJA para no recibir mensajes.",
    (Channel.EMAIL, "en"): "To stop these e-mails, reply STOP.",
    (Channel.EMAIL, "es"): "Para no recibir estos correos, responda BAJA.",
}

# Recobro's own confirmation of an opt-out, for an account whose campaign
# has no template of its own for it: it must go all the same.
OPT_OUT_CONFIRMED = {
    "en": "You have opted out: you will get no more texts from us.",
    "es": "Ha pedido la baja: no recibirá más mensajes nuestros.",
}

# What every message may say; then what each kind of trigger adds.
COMMON = {
    "first_name": "the debtor's first name",
    "debtor_name": "the debtor's name as imported",
    "balance": "the balance with its currency, written for the language",
    "reference_tail": "the last 4 characters of the account's reference",
    "payment_link": "the signed payment link (no account data in it)",
    "opt_out": "the opt-out notice (required)",
}
_PAYMENT = {
    "amount": "the payment's amount with its currency",
    "card": "the card's brand and last four, e.g. 'Visa 4242'",
}
_DATED = {
    "amount": "the amount due with its currency",
    "due_date": "the date it is due, written for the language",
}
EXTRA = {
    Trigger.RECEIPT: _PAYMENT,
    Trigger.DECLINED: {**_PAYMENT, "retry_date": "the day it is tried again ('' if never)"},
    Trigger.PLAN_SET_UP: {"amount": "the plan's total with its currency"},
    Trigger.PLAN_BROKEN: _DATED,
    Trigger.PROMISE_REMINDER: _DATED,
    Trigger.INSTALMENT_REMINDER: _DATED,
    Trigger.BROKEN_PROMISE: _DATED,
    Trigger.PRE_DUE: _DATED,
}

_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"),
}

_ENVIRONMENT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                    keep_trailing_newline=True)


class TemplateRefused(ValueError):
    """A template that may not be saved, or did not render: the message
    names the field, the line and what is wrong."""


@dataclass(frozen=True)
class TemplateKey:
    """Which template: a campaign's, for a segment ('' for any segment with
    none of its own), a trigger, a channel and a language."""

    campaign: str
    segment: str
    trigger: Trigger
    channel: Channel
    language: str

    def __str__(self) -> str:
        return (f"{self.campaign}/{self.segment or 'any'}/{self.trigger.value}/"
                f"{self.channel.value}/{self.language}")


@dataclass(frozen=True)
class AccountView:
    """What a message may say of an account."""

    reference: str
    debtor_name: str
    balance: Decimal
    currency: str


@dataclass(frozen=True)
class Rendered:
    body: str
    subject: str | None  # e-mail only


# The one answer to a STOP asks for nothing: no link, and no notice (the
# debtor has just opted out).
_CONFIRMATION = {name: COMMON[name] for name in ("first_name", "debtor_name", "reference_tail")}


def needs_notice(trigger: Trigger) -> bool:
    """Whether a message of this trigger must carry the opt-out notice:
    every one but the confirmation of an opt-out."""
    return trigger is not Trigger.OPT_OUT_CONFIRMATION


def allowed_variables(trigger: Trigger) -> dict[str, str]:
    """The variables a template of this trigger may read, each described."""
    if not needs_notice(trigger):
        return dict(_CONFIRMATION)
    return {**COMMON, **EXTRA.get(trigger, {})}


def money(amount: Decimal, currency: str, language: str) -> str:
    """1,234.56 USD in English; 1.234,56 USD in Spanish."""
    text = f"{amount:,.2f}"
    if language == "es":
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return f"{text} {currency}"


def day(value: date, language: str) -> str:
    """January 2, 2027 in English; 2 de enero de 2027 in Spanish."""
    month = _MONTHS[language][value.month - 1]
    if language == "es":
        return f"{value.day} de {month} de {value.year}"
    return f"{month} {value.day}, {value.year}"


def opt_out_notice(channel: Channel, language: str) -> str:
    return OPT_OUT_NOTICE[(channel, language)]


def sample_values(trigger: Trigger, channel: Channel, language: str) -> dict[str, str]:
    """Values of every allowed variable, to try a template with on save."""
    values = {
        "first_name": "Ana", "debtor_name": "Ana Example",
        "balance": money(Decimal("1234.56"), "USD", language), "reference_tail": "0001",
        "payment_link": "https://pay.example/p?a=TOKEN&p=pay&e=1&s=SIGNATURE",
        "opt_out": opt_out_notice(channel, language),
        "amount": money(Decimal("100.00"), "USD", language), "card": "Visa 4242",
        "due_date": day(date(2027, 1, 2), language), "retry_date": day(date(2027, 1, 5), language),
    }
    return {name: values[name] for name in allowed_variables(trigger)}


def account_values(account: AccountView, channel: Channel, language: str, payment_link: str
                   ) -> dict[str, str]:
    """The common variables' values for an account (the trigger's own, an
    amount or a date, come from what fired the message)."""
    return {
        "first_name": account.debtor_name.split()[0] if account.debtor_name.split() else "",
        "debtor_name": account.debtor_name,
        "balance": money(account.balance, account.currency, language),
        "reference_tail": account.reference[-4:],
        "payment_link": payment_link,
        "opt_out": opt_out_notice(channel, language),
    }


def _refused(field: str, error: TemplateError) -> TemplateRefused:
    line = getattr(error, "lineno", None)
    return TemplateRefused(f"{field}{f' line {line}' if line else ''}: {error.message}")


def _check_source(field: str, source: str, allowed: Mapping[str, str]) -> None:
    try:
        tree = _ENVIRONMENT.parse(source)
        # Compiling finds unknown filters and tests (with their line).
        unknown = find_undeclared_variables(tree) - set(allowed)
    except TemplateError as error:
        raise _refused(field, error) from None
    if unknown:
        # The first use of the first unknown name, by line.
        line, name = min((node.lineno, node.name) for node in tree.find_all(nodes.Name)
                         if node.name in unknown)
        raise TemplateRefused(f"{field} line {line}: unknown variable {name!r} "
                              f"(allowed: {', '.join(sorted(allowed))})")


def check_template(trigger: Trigger, channel: Channel, language: str, body: str,
                   subject: str | None) -> Rendered:
    """The template rendered with sample values, if it may be saved;
    TemplateRefused naming the field and line of what is wrong otherwise."""
    if language not in LANGUAGES:
        raise TemplateRefused(f"language {language!r}: use {' or '.join(LANGUAGES)}")
    if channel is Channel.EMAIL and not (subject or "").strip():
        raise TemplateRefused("subject: an e-mail template needs one")
    if channel is Channel.SMS and subject is not None:
        raise TemplateRefused("subject: an SMS has none")
    if not body.strip():
        raise TemplateRefused("body: empty")
    if len(body) > MAX_BODY:
        raise TemplateRefused(f"body: {len(body)} characters, {MAX_BODY} at most")
    if subject is not None and (len(subject) > MAX_SUBJECT or "\n" in subject.strip()):
        raise TemplateRefused(f"subject: one line of {MAX_SUBJECT} characters at most")
    allowed = allowed_variables(trigger)
    _check_source("body", body, allowed)
    if subject is not None:
        _check_source("subject", subject, allowed)
    return render(trigger, channel, language, body, subject,
                  sample_values(trigger, channel, language))


@lru_cache(maxsize=512)
def _compiled(source: str) -> Template:
    """A template's source compiled once: the sender renders each version
    thousands of times."""
    return _ENVIRONMENT.from_string(source)


def render(trigger: Trigger, channel: Channel, language: str, body: str, subject: str | None,
           values: Mapping[str, str]) -> Rendered:
    """A message from its template and the values of its variables; the
    opt-out notice must be in the body as rendered, when the trigger needs
    it (TemplateRefused)."""
    try:
        text = _compiled(body).render(values)
        title = None if subject is None else " ".join(_compiled(subject).render(values).split())
    except TemplateError as error:
        raise TemplateRefused(f"rendering: {error.message}") from None
    notice = opt_out_notice(channel, language)
    if needs_notice(trigger) and notice not in text:
        raise TemplateRefused(f"body: the opt-out notice {notice!r} is missing (Reg F "
                              "1006.6(e)): write {{ opt_out }} in the body, outside any 'if'")
    return Rendered(text, title)
