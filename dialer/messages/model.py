"""What a message is: its trigger, its channel, and which triggers dun."""

from __future__ import annotations

from enum import Enum


class Channel(Enum):
    SMS = "sms"
    EMAIL = "email"


class Trigger(Enum):
    """What makes a message go (issue 15), each a campaign setting with its
    template and channel."""

    NO_INTERACTION = "no_interaction"  # answered and hung up without a key or an agent
    MACHINE = "machine"  # an answering machine answered
    ABANDONED = "abandoned"  # no agent came (after the safe-harbour message)
    RECEIPT = "receipt"  # an approved payment (payment_outbox)
    DECLINED = "declined"  # a declined payment (payment_outbox)
    PLAN_SET_UP = "plan_set_up"  # a plan of instalments agreed (payment_outbox)
    PLAN_BROKEN = "plan_broken"  # an instalment missed (payment_outbox)
    PROMISE_REMINDER = "promise_reminder"  # the day before a promise to pay
    INSTALMENT_REMINDER = "instalment_reminder"  # the day before an instalment
    BROKEN_PROMISE = "broken_promise"  # the day after a promise not kept
    PRE_DUE = "pre_due"  # a reminder for an account not yet past due
    AGENT_LINK = "agent_link"  # an agent's "send the link"
    OPT_OUT_CONFIRMATION = "opt_out_confirmation"  # the one answer to a STOP


# What tells the debtor of something they did, and goes whatever the
# account's status (a paid account still gets its receipt). Every other
# trigger asks for money: a dunning message.
TRANSACTIONAL = frozenset({Trigger.RECEIPT, Trigger.DECLINED, Trigger.PLAN_SET_UP,
                           Trigger.OPT_OUT_CONFIRMATION})


def is_dunning(trigger: Trigger) -> bool:
    """Whether a message of this trigger asks the debtor to pay."""
    return trigger not in TRANSACTIONAL
