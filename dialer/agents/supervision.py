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
from dataclasses import dataclass
from typing import Final

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
