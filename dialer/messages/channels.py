"""The one interface every way of sending a message meets (Kannel's SMS,
an HTTP/JSON SMS provider, e-mail over SMTP): what the sender hands a
channel, what the channel answers, and how it says a try failed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from dialer.errors import RecobroError
from dialer.messages.model import Channel


@dataclass(frozen=True)
class Outgoing:
    """One rendered message, ready to hand to its channel."""

    message_id: int
    idempotency_key: str  # the same on every try of this message
    channel: Channel
    recipient: str  # an E.164 number or an e-mail address
    body: str
    subject: str | None  # e-mail only
    link: str  # the signed payment link the body carries (an e-mail attaches its QR)


@dataclass(frozen=True)
class Handed:
    """The provider took the message."""

    provider_reference: str | None  # its id for the message, where it gives one


class SendFailed(RecobroError):
    """A channel could not hand the message over. permanent: trying again
    cannot help (a number the provider refuses), so it is dead at once."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class MessageChannel(Protocol):
    """A way of sending one channel's messages."""

    channel: Channel

    async def send(self, outgoing: Outgoing) -> Handed:
        """Hand the message to the provider; SendFailed when it did not take it."""
        ...

    async def close(self) -> None:
        """Let go of connections."""
        ...


class DeliveryCode(Enum):
    """What a delivery report says of a text, numbered as Kannel's report
    types are (%d in a dlr-url), the codes messages.delivery_code keeps
    whichever SMS channel reported."""

    DELIVERED = 1  # the phone has it
    UNDELIVERED = 2  # the SMSC gave up on it
    BUFFERED = 4  # queued in the SMSC
    SMSC_ACCEPTED = 8  # the SMSC took it
    SMSC_REJECTED = 16  # the SMSC refused it

    @property
    def final_status(self) -> str | None:
        """The message's status this report settles it in (None: not final)."""
        if self is DeliveryCode.DELIVERED:
            return "delivered"
        if self in (DeliveryCode.UNDELIVERED, DeliveryCode.SMSC_REJECTED):
            return "undelivered"
        return None
