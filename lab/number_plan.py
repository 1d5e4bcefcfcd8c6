"""The lab's number plan: what a simulated debtor does is written in the
number dialed, so a test or the demo chooses an outcome by choosing a number.

The last four digits of a lab number are ``B P P S``: ``B`` the behaviour,
``PP`` its parameter and ``S`` a free serial digit. Everything before them is
free too, so numbers can look like any country's. Pure code: the sipp PSTN
scenario (``pstn_scenario.py``) reads the same digits on the far side.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Behaviour(Enum):
    """What the simulated debtor's phone does with an incoming call."""

    ANSWER_AND_STAY = "1"  # PP: seconds on the line before hanging up; 00 = 60 s
    ANSWER_AND_HANG_UP = "2"  # answers, then hangs up at once
    BUSY = "3"  # 486 Busy Here
    NO_ANSWER = "4"  # rings until the caller gives up
    CONGESTION = "5"  # 503 Service Unavailable
    ANSWER_AND_SEND_DTMF = "6"  # PP: two digits sent over RFC 4733, then stays
    UNALLOCATED = "7"  # 404 Not Found: the number does not exist
    HUMAN_GREETING = "8"  # answers with a person's short "¿Bueno?"; PP: seconds it stays
    MACHINE_GREETING = "9"  # answers with an answering machine's greeting; PP: seconds
    # Answers and keys a script over RFC 4733 (an account number, menu keys,
    # a test card...), timed to follow Recobro's prompts; PP: the script
    # (lab.key_scripts, read from tests/fixtures/demo_cards.toml). Stays
    # until hung up, KEY_SCRIPT_STAY_SECONDS at most.
    ANSWER_AND_KEY_SCRIPT = "0"


LAB_PREFIX = "+1555010"
MAX_STAY_SECONDS = 60
LONGEST_STAY_SECONDS = 99  # the most PP can say
KEY_SCRIPT_STAY_SECONDS = 240  # a payment by keypad takes a couple of minutes


@dataclass(frozen=True)
class LabNumber:
    """A number of the lab's PSTN and what it will do when called."""

    number: str
    behaviour: Behaviour
    parameter: str

    @property
    def stay_seconds(self) -> int:
        """Seconds an answering debtor stays on the line before hanging up."""
        if self.behaviour in (Behaviour.ANSWER_AND_STAY, Behaviour.HUMAN_GREETING,
                              Behaviour.MACHINE_GREETING):
            return int(self.parameter) or MAX_STAY_SECONDS
        if self.behaviour is Behaviour.ANSWER_AND_KEY_SCRIPT:
            return KEY_SCRIPT_STAY_SECONDS
        return MAX_STAY_SECONDS if self.behaviour is Behaviour.ANSWER_AND_SEND_DTMF else 0

    @property
    def key_script(self) -> str:
        """The key script the debtor keys after answering ("" for none)."""
        return self.parameter if self.behaviour is Behaviour.ANSWER_AND_KEY_SCRIPT else ""

    @property
    def dtmf_digits(self) -> str:
        """The digits the debtor keys after answering (RFC 4733)."""
        return self.parameter if self.behaviour is Behaviour.ANSWER_AND_SEND_DTMF else ""


def lab_number(behaviour: Behaviour, parameter: str = "00", serial: int = 0,
               prefix: str = LAB_PREFIX) -> str:
    """Build the number that makes the lab PSTN behave as asked."""
    if len(parameter) != 2 or not parameter.isdigit():
        raise ValueError(f"parameter must be two digits, got {parameter!r}")
    if not 0 <= serial <= 9:
        raise ValueError(f"serial must be one digit, got {serial}")
    return f"{prefix}{behaviour.value}{parameter}{serial}"


def parse_lab_number(number: str) -> LabNumber:
    """Read the behaviour a lab number asks for; ValueError names the problem."""
    digits = number.lstrip("+")
    if len(digits) < 4 or not digits.isdigit():
        raise ValueError(f"lab number {number!r}: need at least four trailing digits")
    # Every digit is a behaviour: the plan has ten.
    code, parameter = digits[-4], digits[-3:-1]
    return LabNumber(number=number, behaviour=Behaviour(code), parameter=parameter)
