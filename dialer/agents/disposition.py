"""What an agent's disposition of a call does to the debtor's account: the
effects a disposition code may have (the disposition_codes table names one
per code) and, as a pure table, what each one changes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from dialer.portfolio.model import AccountStatus, DoNotCall, DoNotCallReason


class DispositionEffect(Enum):
    NONE = "none"  # recorded, nothing else changes (a promise, a refusal)
    PAID = "paid"  # paid during the call: the account is never dialed again
    DISPUTED = "disputed"  # collection stops while the dispute is open
    OPT_OUT = "opt_out"  # the debtor asked not to be called: the whole account
    WRONG_NUMBER = "wrong_number"  # this number reaches someone else
    CALLBACK = "callback"  # the booking itself is the call-back flow's


@dataclass(frozen=True)
class NewStatus:
    """The account's status changes."""

    status: AccountStatus


Consequence = NewStatus | DoNotCall

_STATUS = {DispositionEffect.PAID: AccountStatus.PAID,
           DispositionEffect.DISPUTED: AccountStatus.DISPUTED}


def consequences(effect: DispositionEffect, reference: str,
                 number: str) -> tuple[Consequence, ...]:
    """What a disposition with this effect changes, for the account of this
    reference called on this number."""
    if effect in _STATUS:
        return (NewStatus(_STATUS[effect]),)
    if effect is DispositionEffect.OPT_OUT:
        return (DoNotCall(DoNotCallReason.OPT_OUT, reference=reference),)
    if effect is DispositionEffect.WRONG_NUMBER:
        return (DoNotCall(DoNotCallReason.DNC, number=number),)
    return ()
