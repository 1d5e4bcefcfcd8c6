"""The one vocabulary of call events. AMI and ARI messages are turned into
these (see dialer.telephony) before any logic sees them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class CallEvent:
    """Something that happened to one call, at Asterisk's time when known."""

    call_id: str
    at: datetime


@dataclass(frozen=True)
class CallOriginated(CallEvent):
    """The dialer asked Asterisk to place the call."""

    number: str


@dataclass(frozen=True)
class CallArrived(CallEvent):
    """A call from the trunk entered Recobro's inbound application."""

    caller: str


@dataclass(frozen=True)
class CallRinging(CallEvent):
    """The far end is ringing (180/183 received)."""


@dataclass(frozen=True)
class CallAnswered(CallEvent):
    """The far end answered (200 OK)."""


@dataclass(frozen=True)
class CallEnteredApp(CallEvent):
    """The call entered Recobro's Stasis application; with answering-machine
    detection, after its verdict. Every Stasis() Recobro starts names its
    arguments (`flow=campaign,language=es,amd=HUMAN`, parsed in
    dialer.telephony.ari_events): the flow that drives the call, then what
    that flow needs (an inbound caller's number, a feature code's action)."""

    flow: str = ""
    language: str = ""
    amd_status: str = ""  # HUMAN, MACHINE, NOTSURE, HANGUP; "" without AMD
    params: Mapping[str, str] = field(default_factory=dict)  # every named argument


@dataclass(frozen=True)
class DtmfReceived(CallEvent):
    """A key pressed by the far end. The digit never reaches a log."""

    digit: str = field(repr=False)


@dataclass(frozen=True)
class PlaybackFinished(CallEvent):
    """A prompt finished playing on the call."""

    playback_id: str


@dataclass(frozen=True)
class PlaybackFailed(CallEvent):
    """A prompt did not play to its end (ARI reports a finished playback
    whose state is `failed`): Asterisk could not play it (no such sound in
    the call's language, or no format it can play: the caller heard
    nothing), or the call hung up while it played (hung_up)."""

    playback_id: str
    media: str
    language: str
    hung_up: bool = False

    @property
    def reason(self) -> str:
        """Why, in words (Asterisk's event carries no reason of its own)."""
        if self.hung_up:
            return f"the call hung up while {self.media} played"
        return (f"Asterisk could not play {self.media} in language {self.language!r} "
                "(no such sound in that language, or no playable format)")


@dataclass(frozen=True)
class FallbackPlayed(CallEvent):
    """A flow played what Asterisk can always play (media) because a
    recording (sound) failed."""

    sound: str
    media: str


@dataclass(frozen=True)
class RecordingMuted(CallEvent):
    """Recobro muted the call's recording (a card being keyed) or, with
    muted False, resumed it. refused: Asterisk's answer when it had no
    recording of the call to mute or resume ("" when it did so)."""

    muted: bool
    refused: str = ""


@dataclass(frozen=True)
class PaymentRequested(CallEvent):
    """The debtor's agent asked (from the API, another process) that the
    debtor be handed to the payment capture while the agent stays on the
    line; it reaches the process whose flow has the call."""

    agent: str = ""


@dataclass(frozen=True)
class TransferRequested(CallEvent):
    """The debtor's agent asked (from the API, another process, which
    reserved to_agent already and sent it the screen pop) to bring
    to_agent into the call, warm: the three talk until the agent leaves;
    or (to_service) to send the debtor to a service, cold.
    call: the id the agents know the call by (an attempt's or an inbound
    call's)."""

    agent: str = ""
    to_agent: str = ""
    call: str = ""
    # A cold transfer names a service instead of an agent (to_agent ""):
    # the agent leaves at once and the call's flow takes the debtor there.
    to_service: str = ""


@dataclass(frozen=True)
class TransferCompleteRequested(CallEvent):
    """The agent who asked for a transfer leaves the call to its target
    (from the API)."""

    agent: str = ""


@dataclass(frozen=True)
class TransferStarted(CallEvent):
    """The transfer's target joined the call: the debtor, the agent and
    to_agent talk (warm)."""

    agent: str
    to_agent: str


@dataclass(frozen=True)
class TransferCompleted(CallEvent):
    """The agent left (how: `asked`, through the API, or `hung_up`, its
    phone); the call is to_agent's from now on."""

    agent: str
    to_agent: str
    how: str


@dataclass(frozen=True)
class SentToService(CallEvent):
    """A cold transfer: the agent left the call, and the debtor goes to
    to_service (the self-service menu)."""

    agent: str
    to_service: str


@dataclass(frozen=True)
class TransferFailed(CallEvent):
    """The transfer did not happen (why: the target's phone did not take
    it, the target or the debtor left during it); the call stays with
    agent."""

    agent: str
    to_agent: str
    reason: str


@dataclass(frozen=True)
class SupervisionStarted(CallEvent):
    """A supervisor's phone began to listen to the call (mode: listen,
    whisper or barge), as a person asked (by: who, from the API); leg: the
    supervisor's channel, which names the supervision's end too; asterisk:
    the Asterisk server the leg is on (empty in starts written before
    servers had names: the default server's)."""

    supervisor: str
    mode: str
    by: str
    leg: str
    asterisk: str = ""


@dataclass(frozen=True)
class SupervisionEnded(CallEvent):
    """The supervisor's listening ended, and why (the supervisor hung up,
    it was stopped, the call ended); by: who stopped it (empty for the
    other reasons); leg: the supervisor's channel, as at the start."""

    supervisor: str
    mode: str
    reason: str
    leg: str
    by: str = ""


@dataclass(frozen=True)
class HangupRequested(CallEvent):
    """Recobro itself asked Asterisk to end the call."""

    reason: str


@dataclass(frozen=True)
class OriginateFailed(CallEvent):
    """Asterisk reports the originate did not connect (AMI OriginateResponse).

    reason is Asterisk's outbound reason code: 1 hung up, 3 ring timeout
    (no answer), 5 busy, 8 congestion, 0 failed before a channel existed."""

    reason: int


@dataclass(frozen=True)
class CallHungUp(CallEvent):
    """The channel is gone, with Asterisk's (Q.850) hangup cause."""

    cause: int
    cause_text: str


@dataclass(frozen=True)
class CallLost(CallEvent):
    """The channel vanished while Recobro was not connected to Asterisk
    (found missing when reconciling after a reconnect)."""
