"""Every sound Recobro's flows play, by flow: Recobro's own recordings and
the Asterisk sounds they rely on (greeting, queue announcements, the digits
a failed recording falls back to, the numbers and months the payment flow
says amounts and dates with). `recobro sounds check`, and `recobro lab
up`, ask Asterisk whether each exists in each language. Pure."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from ivr import (
    account_prompt,
    agent_prompts,
    callback_prompts,
    machine_message,
    numbers,
    press_to_pay,
    safe_harbour,
    self_service,
)
from ivr.prompts import LANGUAGES, Prompt
from ivr.recordings import Recording
from payment_ivr import prompts as payment_prompts

RECORDINGS: tuple[Recording, ...] = (
    *safe_harbour.RECORDINGS, *machine_message.RECORDINGS, *account_prompt.RECORDINGS,
    *callback_prompts.RECORDINGS, *self_service.RECORDINGS, *agent_prompts.RECORDINGS,
    *payment_prompts.RECORDINGS, *press_to_pay.RECORDINGS, *numbers.RECORDINGS)

# Said digit by digit (digits: media) or as a number (number: media, with
# Recobro's own hundred: ivr.numbers).
DIGITS = (*(f"digits/{digit}" for digit in range(10)), numbers.HUNDRED.sound)

FLOWS: Mapping[str, tuple[str, ...]] = {
    "outbound greeting (recobro call)": (Prompt.GREETING.value, Prompt.GOODBYE.value),
    "no agent within 2 s (safe harbour)": (safe_harbour.SOUND, *DIGITS),
    "answering machine": (machine_message.SOUND, *DIGITS),
    "inbound": (account_prompt.SOUND, *(r.sound for r in callback_prompts.RECORDINGS),
                *callback_prompts.QUEUE_SOUNDS, *DIGITS),
    "self-service": (*(r.sound for r in self_service.RECORDINGS), *DIGITS),
    "press to pay (self-service campaigns)": (
        account_prompt.SOUND, *(r.sound for r in press_to_pay.RECORDINGS), *DIGITS),
    "agents' feature codes": tuple(r.sound for r in agent_prompts.RECORDINGS),
    "payment": (*(r.sound for r in payment_prompts.RECORDINGS), *payment_prompts.ASTERISK_SOUNDS,
                numbers.HUNDRED.sound),
}


@dataclass(frozen=True)
class MissingSound:
    """A sound a flow plays that Asterisk does not have in a language."""

    sound: str
    languages: tuple[str, ...]
    flows: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.sound} in {'/'.join(self.languages)} ({', '.join(self.flows)})"


def flows_of(sound: str) -> tuple[str, ...]:
    """The flows that play sound."""
    return tuple(flow for flow, sounds in FLOWS.items() if sound in sounds)


def missing(available: Mapping[str, Collection[str]],
            languages: Collection[str] = LANGUAGES) -> list[MissingSound]:
    """The sounds the flows play that available (sound name -> the
    languages Asterisk has it in) lacks in some of languages."""
    wanted = dict.fromkeys(sound for sounds in FLOWS.values() for sound in sounds)
    absent = [(sound, tuple(language for language in languages
                            if language not in available.get(sound, ()))) for sound in wanted]
    return [MissingSound(sound, gaps, flows_of(sound)) for sound, gaps in absent if gaps]
