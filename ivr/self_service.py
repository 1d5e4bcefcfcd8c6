"""Self-service for low-risk debtors who call in, as an explicit state
machine: a menu (1 hear the balance, 2 promise to pay it within 7 days,
0 speak to an agent), and what each key leads to. Pure: events in, actions
out; the inbound desk plays and listens. Payment by keypad belongs to the
PCI-scoped payment IVR, not here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

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
RECORDINGS = (MENU_PROMPT, BALANCE_PROMPT, PROMISE_PROMPT)
MENU, YOUR_BALANCE, PROMISE_RECORDED = (r.sound for r in RECORDINGS)


class State(Enum):
    MENU = "menu"
    DONE = "done"
    TO_AGENT = "to_agent"


@dataclass(frozen=True)
class Play:
    sound: str


@dataclass(frozen=True)
class SayAmount:
    amount: str  # e.g. "1234.50"


@dataclass(frozen=True)
class RecordPromise:
    days: int


@dataclass(frozen=True)
class ListenForKey:
    pass


@dataclass(frozen=True)
class ToAgent:
    pass


@dataclass(frozen=True)
class Hangup:
    pass


Action = Play | SayAmount | RecordPromise | ListenForKey | ToAgent | Hangup


@dataclass(frozen=True)
class Menu:
    state: State = State.MENU
    tries: int = 1


def start() -> tuple[Menu, list[Action]]:
    return Menu(), [Play(MENU), ListenForKey()]


def on_key(menu: Menu, key: str, balance: str) -> tuple[Menu, list[Action]]:
    """The menu after a key."""
    if menu.state is not State.MENU:
        return menu, []
    if key == "1":
        return menu, [Play(YOUR_BALANCE), SayAmount(balance), Play(MENU), ListenForKey()]
    if key == "2":
        return Menu(State.DONE, menu.tries), [RecordPromise(PROMISE_DAYS),
                                               Play(PROMISE_RECORDED), Hangup()]
    if key == "0":
        return Menu(State.TO_AGENT, menu.tries), [ToAgent()]
    return on_silence(menu)


def on_silence(menu: Menu) -> tuple[Menu, list[Action]]:
    """No key (or a wrong one): the menu again, then an agent."""
    if menu.state is not State.MENU:
        return menu, []
    if menu.tries >= MENU_TRIES:
        return Menu(State.TO_AGENT, menu.tries), [ToAgent()]
    return Menu(State.MENU, menu.tries + 1), [Play(MENU), ListenForKey()]
