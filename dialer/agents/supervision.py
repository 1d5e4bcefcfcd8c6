"""Supervisors on a live call (issue 18): the three ways a supervisor's
phone joins an agent's call, and what each asks of Asterisk. Pure: the
shell (dialer.agents.supervisors) opens the snoop channels and bridges.

listen: a snoop channel on the agent's channel hears both ways (what the
agent says, what the agent hears: the debtor), into a bridge with the
supervisor's phone; nothing the supervisor says goes anywhere.
whisper: the same snoop also sends the supervisor's voice toward the
agent's phone only (the debtor's side never gets it).
barge: the supervisor's phone joins the call's own bridge: everyone hears
everyone."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Self

# Asterisk's names for the directions of a snoop channel's audio, seen
# from the snooped channel: in, what its phone sends; out, what it is sent.
SPY_BOTH: Final = "both"
WHISPER_NONE: Final = "none"
WHISPER_OUT: Final = "out"


class SupervisionMode(enum.Enum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


@dataclass(frozen=True)
class Snoop:
    """The snoop channel a mode opens on the agent's channel."""

    spy: str
    whisper: str


SNOOPS: Final = {SupervisionMode.LISTEN: Snoop(SPY_BOTH, WHISPER_NONE),
                 SupervisionMode.WHISPER: Snoop(SPY_BOTH, WHISPER_OUT)}


def agent_channel_of(debtor: str, bridge: str, channels: list[str],
                     supervisor_prefix: str) -> str | None:
    """The agent's channel in the bridge holding the debtor's channel: an
    agent's session line is the bridge's own id; a call rung through to
    the agent has the agent's leg beside the debtor (and perhaps a
    supervisor's legs). None when the bridge holds no one agent."""
    if bridge in channels and bridge != debtor:
        return bridge
    others = [c for c in channels if c != debtor and not c.startswith(supervisor_prefix)]
    return others[0] if len(others) == 1 else None


@dataclass(frozen=True)
class LegTag:
    """What a supervisor's leg carries in its Stasis() arguments: the call
    it supervises (an attempt or an inbound call), the mode, the
    supervisor's endpoint and the agent's channel. Asterisk keeps them with
    the leg, so an API restarted under a supervision knows it again."""

    call: uuid.UUID
    mode: SupervisionMode
    supervisor: str
    agent_channel: str

    def params(self) -> dict[str, str]:
        """The tag as named Stasis() arguments."""
        return {"call": str(self.call), "mode": self.mode.value,
                "supervisor": self.supervisor, "agent": self.agent_channel}

    @classmethod
    def of(cls, params: Mapping[str, str]) -> Self:
        """The tag a leg entered with; ValueError naming the argument that
        is missing or wrong (a leg from before the tag, say)."""
        for name in ("call", "mode", "supervisor", "agent"):
            if not params.get(name):
                raise ValueError(f"the leg has no {name!r} argument")
        try:
            call = uuid.UUID(params["call"])
        except ValueError:
            raise ValueError(f"the leg's 'call' argument {params['call']!r} is no call id") \
                from None
        try:
            mode = SupervisionMode(params["mode"])
        except ValueError:
            raise ValueError(f"the leg's 'mode' argument {params['mode']!r} is no mode") from None
        return cls(call, mode, params["supervisor"], params["agent"])
