"""What an agentless ("press to pay") campaign's answered debtor hears
besides the self-service menu: the right-party check first, since nothing
about a debt may be said to anyone but the debtor (FDCPA, 15 U.S.C.
1692c(b)), and the polite end of a call that finds no one to serve. The
check reuses the inbound request for an account number
(ivr.account_prompt.KeyedAccount); the called account is proved by keying
its reference exactly. Pure: the words, the rule and the flows; the
dialer (dialer.outbound.self_service) plays and listens."""

from __future__ import annotations

from ivr.actions import LONGEST_PROMPT_S
from ivr.recorded_message import RecordedMessage
from ivr.recordings import Recording, sound

KEY_TRIES = 2  # account numbers keyed before the call ends unverified

# Said to whoever could not prove to be the debtor: no name, no debt.
NOT_VERIFIED = Recording(sound("not-verified"), {
    "en": "We could not confirm who we are speaking with. Please call us back at {number}. "
          "Goodbye.",
    "es": "No hemos podido confirmar con quién hablamos. Por favor, devuélvanos la llamada "
          "al {number}. Adiós.",
})
# Said to the debtor who asked for an agent when none was free.
NO_AGENT = Recording(sound("no-agent-free"), {
    "en": "No agent is free right now. Please call us back at {number}. Goodbye.",
    "es": "En este momento no hay ningún agente libre. Por favor, devuélvanos la llamada "
          "al {number}. Adiós.",
})
RECORDINGS = (NOT_VERIFIED, NO_AGENT)


def proves(keyed: str | None, reference: str) -> bool:
    """Whether the digits keyed (None: none could be asked for) prove the
    caller is the debtor of the account with this reference: exactly its
    reference (so a press-to-pay campaign's accounts need references a
    keypad can key)."""
    return bool(keyed) and keyed == reference


def not_verified(callback_number: str) -> RecordedMessage:
    """The end of a call whose party did not prove to be the debtor."""
    return RecordedMessage(NOT_VERIFIED.sound, LONGEST_PROMPT_S, callback_number,
                           "the party did not prove to be the debtor")


def no_agent(callback_number: str) -> RecordedMessage:
    """The end of a self-service call whose debtor asked for an agent, when
    none was free."""
    return RecordedMessage(NO_AGENT.sound, LONGEST_PROMPT_S, callback_number,
                           "self-service: no agent free")
