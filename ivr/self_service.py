"""Self-service for low-risk debtors who call in, as an explicit state
machine: a menu (1 hear the balance, 2 promise to pay it within 7 days,
3 pay by card when a payment can be taken, 0 speak to an agent), and what
each key leads to. Pure: events in, actions out; the inbound desk plays and
listens. Payment by keypad itself belongs to the PCI-scoped payment IVR:
this flow only finishes with TO_PAY, and the desk hands the call over."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.actions import Finish, Hangup, Input, Key, KeyMode, Listen, Play, Unplayable
from ivr.actions import sound as media_of
from ivr.numbers import number_media
from ivr.recordings import Recording, sound

LOW_RISK = 0.3  # risk scores below this are offered self-service first
PROMISE_DAYS = 7
MENU_TRIES = 3

MENU_PROMPT = Recording(sound("self-service-menu"), {
    "en": "To hear your balance, press 1. To promise to pay it within seven days, press 2. "
          "To speak to an agent, press 0.",
    "es": "Para escuchar su saldo, pulse 1. Para comprometerse a pagarlo en siete días, "
          "pulse 2. Para hablar con un agente, pulse 0.",
})
BALANCE_PROMPT = Recording(sound("your-balance"), {"en": "Your balance is",
                                                   "es": "Su saldo es de"})
PROMISE_PROMPT = Recording(sound("promise-recorded"), {
    "en": "Thank you. Your promise to pay within seven days is recorded. Goodbye.",
    "es": "Gracias. Su compromiso de pago en siete días ha quedado registrado. Adiós.",
})
# Its own recording, after the menu: a site that cannot take card payments
# keeps the menu it recorded, and the keys debtors know keep their meaning.
PAY_PROMPT = Recording(sound("self-service-pay"), {
    "en": "To pay by card now, press 3.",
    "es": "Para pagar ahora con tarjeta, pulse 3.",
})
RECORDINGS = (MENU_PROMPT, BALANCE_PROMPT, PROMISE_PROMPT, PAY_PROMPT)
MENU, YOUR_BALANCE, PROMISE_RECORDED, PAY = (r.sound for r in RECORDINGS)
PAY_KEY = "3"


KEY_TIMEOUT_S = 8.0  # to press a key after the menu
TO_AGENT = "to_agent"  # what the flow finishes with when the caller wants an agent
TO_PAY = "to_pay"  # ... when the caller wants to pay by card
FINISHED = "self-service finished"


@dataclass(frozen=True)
class RecordPromise:
    """Effect: the caller promised to pay the balance within days."""

    days: int


@dataclass(frozen=True)
class Menu:
    tries: int = 1


def amount_media(amount: str) -> list[str]:
    """The amount said as a number, in whole units (e.g. "1234.50")."""
    return number_media(int(amount.split(".")[0]))


@dataclass(frozen=True)
class SelfService:
    """The menu, the balance, a promise, a card payment when can_pay; an
    agent on 0, after MENU_TRIES silences or wrong keys, or when a prompt
    cannot be played. Finishes with TO_AGENT or TO_PAY, or hangs up after
    a promise."""

    balance: str
    can_pay: bool = False

    def start(self) -> tuple[Menu, list[object]]:
        return Menu(), self._menu()

    def on(self, menu: Menu, heard: Input) -> tuple[Menu, list[object]]:
        if isinstance(heard, Unplayable):
            return menu, [Finish(TO_AGENT)]  # a prompt nobody can hear: a person
        key = heard.digit if isinstance(heard, Key) else None
        if key == "1":
            return menu, [Play(media_of(YOUR_BALANCE)),
                          *(Play(media) for media in amount_media(self.balance)),
                          *self._menu()]
        if key == "2":
            return menu, [RecordPromise(PROMISE_DAYS),
                          Play(media_of(PROMISE_RECORDED), keys=KeyMode.BUFFER),
                          Hangup(FINISHED)]
        if key == PAY_KEY and self.can_pay:
            return menu, [Finish(TO_PAY)]
        if key == "0" or menu.tries >= MENU_TRIES:
            return menu, [Finish(TO_AGENT)]
        return Menu(menu.tries + 1), self._menu()  # silence or a wrong key: again

    def _menu(self) -> list[object]:
        pay = [Play(media_of(PAY))] if self.can_pay else []
        return [Play(media_of(MENU)), *pay, Listen(KEY_TIMEOUT_S)]
