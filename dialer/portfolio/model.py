"""Collections domain types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum


class AccountStatus(Enum):
    """Only active accounts are ever dialed."""

    ACTIVE = "active"
    PAID = "paid"
    SETTLED = "settled"
    IN_PLAN = "in_plan"  # paying by instalments (a capture set the plan up)
    DISPUTED = "disputed"
    CLOSED = "closed"


class PhoneKind(Enum):
    MOBILE = "mobile"
    HOME = "home"
    WORK = "work"
    OTHER = "other"


class Language(Enum):
    ES = "es"
    EN = "en"


class Segment(Enum):
    """Delinquency stage by days past due (thresholds per campaign)."""

    EARLY = "early"
    MID = "mid"
    LATE = "late"


class DialMode(Enum):
    """From most to least conservative."""

    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    RATIO = "ratio"
    PREDICTIVE = "predictive"

    @property
    def may_overdial(self) -> bool:
        """Whether this mode may place more calls than there are free agents."""
        return self in (DialMode.RATIO, DialMode.PREDICTIVE)


class MachineAction(Enum):
    """What a campaign does when AMD says an answering machine answered."""

    HANG_UP = "hang_up"
    LEAVE_MESSAGE = "leave_message"


class AnsweredTo(Enum):
    """Where a campaign's answered live calls go."""

    AGENT = "agent"  # to a free agent within 2 s, else the safe-harbour message
    # To the self-service IVR ("press to pay"), no agent promised: the
    # debtor proves to be the right party first (dialer.outbound.self_service).
    SELF_SERVICE = "self_service"


class DoNotCallReason(Enum):
    DNC = "dnc"  # the number must not be called (a list, a wrong number)
    OPT_OUT = "opt_out"  # the debtor asked not to be called


@dataclass(frozen=True)
class DoNotCall:
    """An entry on the do-not-call list: one number, or a whole account by
    its reference."""

    reason: DoNotCallReason
    number: str | None = None
    reference: str | None = None

    def __post_init__(self) -> None:
        if (self.number is None) == (self.reference is None):
            raise ValueError("give a number or an account reference, not both")


@dataclass(frozen=True)
class Phone:
    """One of an account's phones, normalised."""

    number: str  # E.164
    kind: PhoneKind
    sms_capable: bool
    consent: bool
    region: str  # ISO 3166 country of the number
    time_zones: tuple[str, ...]  # every zone the number may be in


@dataclass(frozen=True)
class Account:
    """A debtor's account as imported."""

    reference: str
    debtor_name: str
    balance: Decimal
    currency: str
    days_past_due: int
    client_segment: str
    risk_score: float  # 0 (sure to pay) .. 1 (sure not to)
    language: Language
    time_zone: str  # "" when the phones' zones decide
    status: AccountStatus
    phones: tuple[Phone, ...]
    email: str | None = None  # where e-mails go (None: the account gets none)
    # The next payment's date, which a file carries for an account not yet
    # past due (days_past_due 0): the pre_due reminder's (None: not known).
    due_date: date | None = None


@dataclass(frozen=True)
class SegmentThresholds:
    """early: 0..early_max_dpd days past due, mid: ..mid_max_dpd, late:
    beyond (applied where leads are drawn, dialer.outbound.store)."""

    early_max_dpd: int = 30
    mid_max_dpd: int = 90


@dataclass(frozen=True)
class RetryDelays:
    """Seconds before an account may be called again, by what the last
    attempt came to."""

    busy_s: int = 15 * 60
    no_answer_s: int = 2 * 3600
    machine_s: int = 4 * 3600
    abandoned_s: int = 72 * 3600
    failed_s: int = 3600
    hung_up_s: int = 4 * 3600


@dataclass(frozen=True)
class PaymentTerms:
    """What a segment offers a debtor who pays by keypad, besides the full
    balance: a settlement of settlement_percent of it paid today, a plan of
    instalments monthly payments, a promise to pay within promise_days.
    None: not offered."""

    settlement_percent: int | None = None
    instalments: int | None = None
    promise_days: int | None = None


@dataclass(frozen=True)
class Strategy:
    """How a campaign works one segment."""

    segment: Segment
    dial_mode: DialMode
    priority: int  # higher is dialed first
    max_attempts: int
    retry: RetryDelays
    payment: PaymentTerms = PaymentTerms()


def default_strategies(dial_mode: DialMode) -> tuple[Strategy, ...]:
    """Early accounts first and often; late ones less often, at most the
    campaign's mode. Every segment may promise within two weeks or pay in
    monthly payments, more of them the later the debt; late debt is
    offered a 70% settlement paid today."""
    return (
        Strategy(Segment.EARLY, dial_mode, priority=3, max_attempts=6, retry=RetryDelays(),
                 payment=PaymentTerms(instalments=3, promise_days=14)),
        Strategy(Segment.MID, dial_mode, priority=2, max_attempts=10, retry=RetryDelays(),
                 payment=PaymentTerms(instalments=6, promise_days=14)),
        Strategy(Segment.LATE, dial_mode, priority=1, max_attempts=15,
                 retry=RetryDelays(no_answer_s=4 * 3600),
                 payment=PaymentTerms(settlement_percent=70, instalments=12, promise_days=14)),
    )


@dataclass(frozen=True)
class Campaign:
    """A campaign as configured."""

    id: int
    name: str
    dial_mode: DialMode
    dial_ratio: float
    abandon_target: float
    caller_id: str
    window_profile: str
    ring_timeout_s: int
    wrap_up_s: int
    thresholds: SegmentThresholds
    segments: tuple[Segment, ...]
    strategies: tuple[Strategy, ...]
    portfolio: str = ""  # only accounts of this client segment ("" = every account)
    amd: bool = False  # answering-machine detection on every answered call
    machine_action: MachineAction = MachineAction.HANG_UP
    answered_to: AnsweredTo = AnsweredTo.AGENT
    # SELF_SERVICE only: calls in flight at most, the pacing of a campaign
    # without agents (dialer.outbound.plan.plan_lines); None otherwise.
    max_lines: int | None = None

    def strategy(self, segment: Segment) -> Strategy:
        """The strategy for a segment."""
        for strategy in self.strategies:
            if strategy.segment is segment:
                return strategy
        raise KeyError(segment)
