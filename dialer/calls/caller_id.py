"""What an agent's phone shows when Recobro rings it for a debtor: the
debtor's name and number (the default), the account reference instead of
the name, or only the company's caller ID. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

NAME_LENGTH = 40  # phones show little more; SIP display names have no limit


class AgentCallerId(Enum):
    """RECOBRO_AGENT_CALLER_ID: what an agent's phone shows."""

    DEBTOR = "debtor"  # "Rosa Diaz" <+12125550181>
    REFERENCE = "reference"  # "IN-ES" <+12125550181>
    COMPANY = "company"  # the campaign's caller ID, nothing about the debtor


@dataclass(frozen=True)
class Debtor:
    """Who is on the line, as far as an agent's phone may show it."""

    name: str
    reference: str
    number: str


def _display(text: str) -> str:
    """A SIP display name: printable, no quotes or backslashes, short."""
    cleaned = re.sub(r'["\\\x00-\x1f\x7f]', "", text).strip()
    return cleaned[:NAME_LENGTH]


def agent_caller_id(show: AgentCallerId, debtor: Debtor | None, company: str) -> str:
    """The caller ID (`"Name" <number>`) an agent's phone gets for a call."""
    if debtor is None or show is AgentCallerId.COMPANY:
        return company
    name = _display(debtor.name if show is AgentCallerId.DEBTOR else debtor.reference)
    number = re.sub(r"[^0-9+*#]", "", debtor.number) or company
    return f'"{name}" <{number}>' if name else number
