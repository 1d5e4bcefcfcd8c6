"""Transfers an agent asks for on a live call (issue 18), from the API:
to another agent by name or to a skill, warm. The API checks the call and
the target, reserves the target (the screen pop goes to its desktop, the
same event the first agent got) and asks the process whose flow has the
call to bring the target in; that process's agent connector
(dialer.agents.connector) rings it or adds its session line to the call's
bridge, and the three talk until the first agent completes the transfer
(here too) or hangs up. A refused transfer leaves the call untouched."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from dialer import limits
from dialer.agents.routing import LANGUAGE_SKILL, CallNeeds
from dialer.agents.state import AgentState
from dialer.agents.store import (
    AgentNotFree,
    AgentStore,
    CallNotLive,
    LiveCall,
    UnknownAgent,
    UnknownCall,
)
from dialer.calls.control import CallControl
from dialer.errors import CallControlError, ChannelGone, ConfigError


class Service(enum.Enum):
    """Where a cold transfer sends the debtor, the agent leaving at once."""

    SELF_SERVICE = "self_service"  # the self-service menu (ivr.self_service)
    # `recobro inbound`'s waiting line (dialer.inbound.desk), as a caller
    # who called in: the next free agent routing picks takes the debtor.
    INBOUND_QUEUE = "inbound_queue"


class TransferRefused(ConfigError):
    """A transfer that cannot be made, or completed, now: status is the
    API's answer (400 bad input, 404 nothing of that name, 409 not now),
    and the message names the field."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Transfer:
    """A transfer of call from agent to to_agent (warm), or to a service
    (cold: to_agent ""), asked for or completing."""

    call: uuid.UUID
    agent: str
    to_agent: str
    to_service: Service | None = None


async def _live_call(store: AgentStore, call: uuid.UUID) -> LiveCall:
    """The call, live with an agent; TransferRefused (404, 409) otherwise."""
    try:
        return await store.live_call(call)
    except UnknownCall as error:
        raise TransferRefused(404, str(error)) from None
    except CallNotLive as error:
        raise TransferRefused(409, str(error)) from None


async def request_transfer(store: AgentStore, calls: CallControl, call: uuid.UUID,
                           to_agent: str | None, to_skill: str | None,
                           to_service: Service | None, now: datetime,
                           inbound_app: str | None = None) -> Transfer:
    """Reserve the transfer's target (the agent to_agent, or the free agent
    routing picks among those with the skill to_skill and the debtor's
    language) and ask the call's process to bring it in; or ask it to send
    the debtor to the service to_service (cold; the inbound queue only
    while `recobro inbound` listens on its Stasis application inbound_app,
    None: no Asterisk to ask). TransferRefused names the field;
    CallControlError when the process cannot be asked (the target is ready
    again)."""
    if sum(target is not None for target in (to_agent, to_skill, to_service)) != 1:
        raise TransferRefused(400, 'the body names the target: "to_agent" (an agent), '
                                   '"to_skill" (a skill) or "to_service" (a service), one '
                                   'of them')
    if to_skill is not None:
        try:
            limits.check_skill_name('the body\'s "to_skill"', to_skill)
        except ConfigError as error:
            raise TransferRefused(400, str(error)) from None
    live = await _live_call(store, call)
    found, agent, channel = live.call, live.agent, live.channel
    server = await store.server_of(agent)
    if not store.reaches(server):
        # The call's channel, and the agents it may go to, are that server's.
        raise TransferRefused(409, f"the call of {call} is on Asterisk server {server!r}: "
                                   f"the API of that server transfers it (this one's is "
                                   f"{store.asterisk!r})")
    going = await store.transfer_target(call, agent)
    if going is not None:
        raise TransferRefused(409, f"the call of {call} is being transferred to {going[0]} "
                                   "already")
    if to_service is Service.INBOUND_QUEUE and (
            inbound_app is None or not await calls.application_connected(inbound_app)):
        raise TransferRefused(409, '"to_service": inbound_queue: no `recobro inbound` takes '
                                   "calls now; the debtor stays with the agent")
    if to_service is not None:
        try:
            await calls.request_transfer(channel, agent, "", str(call), to_service.value)
        except ChannelGone:
            raise TransferRefused(409, f"the call of {call} has ended") from None
        return Transfer(call, agent, "", to_service)
    if to_agent is not None:
        if to_agent == agent:
            raise TransferRefused(409, f'"to_agent": {to_agent} has the call already')
        try:
            await store.reserve_named(to_agent, call, now, found.kind)
        except UnknownAgent:
            raise TransferRefused(404, f'"to_agent": no agent {to_agent!r}') from None
        except AgentNotFree as error:
            raise TransferRefused(409, f'"to_agent": {error}') from None
        target = to_agent
    else:
        assert to_skill is not None
        required = {to_skill: 1}
        if found.language:
            required[f"{LANGUAGE_SKILL}{found.language}"] = 1
        chosen = await store.reserve(call, now, CallNeeds(required=required), found.kind)
        if chosen is None:
            speaks = f" who speaks {found.language}" if found.language else ""
            raise TransferRefused(409, f'"to_skill": no agent with skill {to_skill!r}{speaks} '
                                       "is free")
        target = chosen.agent
    try:
        await calls.request_transfer(channel, agent, target, str(call))
    except CallControlError as error:
        await store.release(target, now)
        if isinstance(error, ChannelGone):
            raise TransferRefused(409, f"the call of {call} has ended") from None
        raise
    return Transfer(call, agent, target)


async def complete_transfer(store: AgentStore, calls: CallControl,
                            call: uuid.UUID) -> Transfer:
    """Ask the call's process to let its agent leave the call to the
    transfer's target, who has joined it. TransferRefused when no
    transfer's target is on the call; CallControlError when the process
    cannot be asked."""
    live = await _live_call(store, call)
    agent, channel = live.agent, live.channel
    going = await store.transfer_target(call, agent)
    if going is None:
        raise TransferRefused(409, f"the call of {call} is being transferred to nobody")
    target, state = going
    if state is not AgentState.ON_CALL:
        raise TransferRefused(409, f"the call of {call}: its transfer's target {target} has "
                                   "not joined it yet")
    try:
        await calls.complete_transfer(channel, agent)
    except ChannelGone:
        raise TransferRefused(409, f"the call of {call} has ended") from None
    return Transfer(call, agent, target)
