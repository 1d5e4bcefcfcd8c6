"""The strategy report of messages (pure): what each message sent to a
debtor came to within its follow-up window, and each cell's figures by
segment x local hour x weekday x channel x template version
(dialer.reports.cells groups and renders them). docs/reports.md defines
every figure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from dialer.reports.cells import (
    Dimension,
    Figure,
    Filters,
    Report,
    amount,
    build_report,
    per_success,
    rate,
)

# What a message is credited with: a payment or a promise of its debtor in
# the days after it was sent. A message is judged once its window is over.
FOLLOW_UP = timedelta(days=7)
# The statuses of a message that went out.
SENT = ("sent", "delivered", "undelivered")
# A message sent with no template version: Recobro's own sentence (an
# opt-out's confirmation where the campaign has no template for it).
BUILT_IN = "built-in"

MESSAGE_DIMENSIONS = (Dimension.SEGMENT, Dimension.HOUR, Dimension.WEEKDAY, Dimension.CHANNEL,
                      Dimension.TEMPLATE)
MESSAGE_CHOICES = (Dimension.PORTFOLIO, *MESSAGE_DIMENSIONS)
HEADINGS = {"delivered": "delivered (of reported)", "paid": "paid in 7 d (of judged)",
            "promise": "promise in 7 d (of judged)",
            "collected": "collected in 7 d per message (total)",
            "messages_per_payment": "messages/payment"}


def template_label(trigger: str | None, language: str | None, version: int | None) -> str:
    """A template version as the report names it: `no_interaction es v3`."""
    if trigger is None or language is None or version is None:
        return BUILT_IN
    return f"{trigger} {language} v{version}"


@dataclass(frozen=True)
class Message:
    """One message that went out, as the store read it: the segment of its
    debtor's lead in the campaign ('none' without one) and the account's
    portfolio, when it was sent
    in the debtor's time, its channel and template version, what the
    provider finally reported (True delivered, False not, None no final
    report: e-mail, or none yet), whether its follow-up window is over by
    the report's time, and within that window: a payment of the debtor,
    a promise, and the money approved."""

    segment: str
    local_hour: int
    weekday: int
    channel: str
    template: str
    delivery: bool | None
    judged: bool
    portfolio: str = "none"
    paid: bool = False
    promised: bool = False
    collected: Decimal = Decimal(0)


def message_figures(messages: Sequence[Message], seed_key: str) -> tuple[Figure, ...]:
    """A cell's figures from its messages: delivered of those with a final
    report; of those judged, paid and promised within the window, money
    collected in it per message, messages per payment."""
    reported = [m for m in messages if m.delivery is not None]
    judged = [m for m in messages if m.judged]
    paid = sum(m.paid for m in judged)
    return (rate("delivered", sum(bool(m.delivery) for m in reported), len(reported)),
            rate("paid", paid, len(judged)),
            rate("promise", sum(m.promised for m in judged), len(judged)),
            amount("collected", [m.collected for m in judged], seed_key),
            per_success("messages_per_payment", paid, len(judged)))


def messages_report(messages: Iterable[Message], dimensions: Sequence[Dimension],
                    filters: Filters, as_of: datetime, currency: str | None) -> Report:
    """The strategy report of messages."""
    return build_report("messages", "messages", messages, dimensions, message_figures,
                        filters, as_of, currency)
