"""The agents' routes: list the agents, show one, log them in and out,
open an agent's session (the line held open for the shift), pause with a
reason, ready, set and remove their skills; dispositions, and
a page of them; pausing, resuming and fetching a call's recording;
handing a call's debtor to the payment capture; transferring a call to
another agent or a skill, warm, and completing it; a supervisor listening,
whispering or barging in on a live call, and stopping that; each agent's event
WebSocket (screen pops, pauses the dialer made, a payment's progress,
a transfer's steps)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
from aiohttp import WSMsgType, hdrs, web

from dialer import limits
from dialer.access.roles import Role
from dialer.agents.events import AgentEvents
from dialer.agents.sessions import AgentSessions
from dialer.agents.state import PERSON_ACTIONS, AgentTransitionError, MissingPauseReason
from dialer.agents.store import (
    AgentRecord,
    AgentStore,
    CallNotLive,
    DispositionFilter,
    DispositionRecord,
    DispositionRefused,
    FilterRefused,
    NotTheirCall,
    SessionRefused,
    UnknownAgent,
    UnknownAttempt,
    UnknownCall,
    UnknownDisposition,
    UnknownSkill,
    disposition_page,
)
from dialer.agents.supervision import SupervisionMode
from dialer.agents.supervisors import (
    NoSupervision,
    SupervisionRefused,
    Supervisors,
    UnknownSupervisor,
)
from dialer.agents.transfers import (
    Service,
    Transfer,
    TransferRefused,
    complete_transfer,
    request_transfer,
)
from dialer.calls.control import CallControl
from dialer.errors import CallControlError, ChannelGone, ConfigError
from dialer.http import (
    http_error,
    json_body,
    json_error,
    page_of,
    page_response,
    principal_of,
)
from dialer.settings import NAME_RULE, is_name
from dialer.store import recordings

STORE = web.AppKey("store", AgentStore)
POOL = web.AppKey("pool", asyncpg.Pool)
CALLS = web.AppKey("calls", CallControl)
EVENTS = web.AppKey("agent_events", AgentEvents)
RECORDINGS_DIR = web.AppKey("recordings_dir", Path)
SESSIONS = web.AppKey("sessions", AgentSessions)
SUPERVISORS = web.AppKey("supervisors", Supervisors)
INBOUND_APP = web.AppKey("inbound_app", str)
SESSION_ACTION = "session"


def _agent_json(agent: AgentRecord) -> dict[str, object]:
    return {"endpoint": agent.endpoint, "name": agent.name, "state": agent.state.value,
            "since": agent.since.isoformat(), "pause_reason": agent.pause_reason,
            "skills": dict(agent.skills), "asterisk": agent.asterisk}


async def list_agents(request: web.Request) -> web.Response:
    """Every agent (a roster, one per softphone: not paged); an agent's
    token sees its own record only."""
    agents = await request.app[STORE].list(datetime.now(UTC))
    principal = principal_of(request)
    if principal.role is Role.AGENT:
        agents = [a for a in agents if a.endpoint == principal.agent]
    return web.json_response([_agent_json(a) for a in agents])


async def show_agent(request: web.Request) -> web.Response:
    """One agent: its state, since when, a pause's reason, its skills."""
    endpoint = request.match_info["endpoint"]
    agent = await request.app[STORE].agent(endpoint, datetime.now(UTC))
    if agent is None:
        return json_error(404, f"no agent {endpoint!r}")
    return web.json_response(_agent_json(agent))


def _skill_of(request: web.Request) -> str:
    """The path's skill, checked as `recobro agent skills` checks one."""
    skill = request.match_info["skill"]
    try:
        limits.check_skill_name("the path's 'skill'", skill)
    except ConfigError as error:
        raise http_error(web.HTTPBadRequest, str(error)) from None
    return skill


async def set_skill(request: web.Request) -> web.Response:
    """An administrator gives an agent a skill at a level, or changes its
    level; the agent's skills now."""
    endpoint, skill = request.match_info["endpoint"], _skill_of(request)
    level = (await json_body(request))["level"]  # an integer: the document's, checked already
    try:
        limits.check_skill_level('the body\'s "level"', skill, level)
    except ConfigError as error:
        return json_error(400, str(error))
    try:
        skills = await request.app[STORE].set_skill(endpoint, skill, level)
    except UnknownAgent as error:
        return json_error(404, str(error))
    return web.json_response({"endpoint": endpoint, "skills": dict(skills)})


async def remove_skill(request: web.Request) -> web.Response:
    """An administrator takes a skill from an agent; the agent's skills now."""
    endpoint, skill = request.match_info["endpoint"], _skill_of(request)
    try:
        skills = await request.app[STORE].remove_skill(endpoint, skill)
    except (UnknownAgent, UnknownSkill) as error:
        return json_error(404, str(error))
    return web.json_response({"endpoint": endpoint, "skills": dict(skills)})


async def set_server(request: web.Request) -> web.Response:
    """An administrator names the Asterisk server an agent's softphone
    registers to (null: any); the agent now."""
    endpoint = request.match_info["endpoint"]
    asterisk = (await json_body(request))["asterisk"]  # a string or null: checked already
    if asterisk is not None and not is_name(asterisk):
        return json_error(400, f'the body\'s "asterisk": {asterisk!r}: a server\'s name is '
                               f"{NAME_RULE}")
    store = request.app[STORE]
    try:
        await store.set_server(endpoint, asterisk)
    except UnknownAgent as error:
        return json_error(404, str(error))
    agent = await store.agent(endpoint, datetime.now(UTC))
    if agent is None:  # removed meanwhile
        return json_error(404, f"no agent {endpoint!r}")
    return web.json_response(_agent_json(agent))


async def agent_action(request: web.Request) -> web.Response:
    endpoint, name = request.match_info["endpoint"], request.match_info["action"]
    if name == SESSION_ACTION:
        return await open_session(request, endpoint)
    action = PERSON_ACTIONS[name]  # the document names the actions (checked already)
    body = await json_body(request)
    reason = str(body.get("reason", ""))
    try:
        moved = await request.app[STORE].act(endpoint, action, datetime.now(UTC), reason)
    except UnknownAgent as error:
        return json_error(404, str(error))
    except MissingPauseReason as error:
        return json_error(400, str(error))
    except AgentTransitionError as error:
        return json_error(409, f"agent {endpoint}: {error}")
    return web.json_response({"endpoint": endpoint, "state": moved.after.value,
                              "pause_reason": reason if name == "pause" else ""})


async def open_session(request: web.Request, endpoint: str) -> web.Response:
    """Call the agent's phone for a session; the agent is logged in once
    it answers."""
    sessions = request.app.get(SESSIONS)
    if sessions is None:
        return json_error(409, "agent sessions need Asterisk: this API has no Stasis "
                               "application")
    try:
        line = await sessions.open(endpoint, datetime.now(UTC))
        agent = await request.app[STORE].agent(endpoint, datetime.now(UTC))
    except UnknownAgent as error:
        return json_error(404, str(error))
    except SessionRefused as error:
        return json_error(409, str(error))
    except CallControlError as error:
        return json_error(502, f"agent {endpoint}: the phone cannot be called: {error}")
    assert agent is not None
    return web.json_response({"endpoint": endpoint, "state": agent.state.value,
                              "pause_reason": agent.pause_reason, "line": line})


def _attempt_id(request: web.Request) -> uuid.UUID:
    """The attempt the path names (a UUID: the document says so, checked
    already)."""
    return uuid.UUID(request.match_info["attempt"])


async def dispose(request: web.Request) -> web.Response:
    """The disposition of a call, once, by the agent who took it. An agent
    token's agent acts (a body's "agent" naming another is a 403); a
    supervisor or an admin may name the agent, or leave it to the call."""
    attempt_id = _attempt_id(request)
    body = await json_body(request)
    # The document requires "code" and makes "agent" text (checked already).
    code, named = body["code"].upper(), body.get("agent")
    principal = principal_of(request)
    if principal.role is Role.AGENT:
        if named not in (None, principal.agent):
            return json_error(403, f"the token of {principal.agent} disposes of its own "
                                   f"calls only, not as {named}")
        named = principal.agent
    try:
        effect = await request.app[STORE].dispose(attempt_id, code, named or None,
                                                  str(body.get("note", "")), datetime.now(UTC))
    except (UnknownAgent, UnknownAttempt) as error:
        return json_error(404, str(error))
    except UnknownDisposition as error:
        return json_error(400, str(error))
    except NotTheirCall as error:
        return json_error(403, str(error))
    except DispositionRefused as error:
        return json_error(409, str(error))
    return web.json_response({"attempt": str(attempt_id), "code": code,
                              "effect": effect.value},
                             status=201)


async def correct_disposition(request: web.Request) -> web.Response:
    """A supervisor's or an admin's correction of a call's disposition (the
    earlier one stays; the audit says who corrected)."""
    attempt_id = _attempt_id(request)
    body = await json_body(request)
    code = body["code"].upper()  # required by the document (checked already)
    try:
        effect = await request.app[STORE].correct(attempt_id, code, str(body.get("note", "")),
                                                  datetime.now(UTC))
    except UnknownAttempt as error:
        return json_error(404, str(error))
    except UnknownDisposition as error:
        return json_error(400, str(error))
    except DispositionRefused as error:
        return json_error(409, str(error))
    return web.json_response({"attempt": str(attempt_id), "code": code,
                              "effect": effect.value, "correction": True}, status=201)


async def recording(request: web.Request) -> web.Response:
    """Pause (e.g. while the debtor reads a card number) or resume a call's
    recording."""
    attempt_id = _attempt_id(request)
    action = request.match_info["action"]  # pause or resume (the document's)
    state = await recordings.recording_of(request.app[POOL], attempt_id)
    if state is None:
        return json_error(404, f"no attempt {attempt_id}")
    if state.file is None:
        return json_error(404, f"attempt {attempt_id} is not being recorded")
    if state.ended:
        return json_error(409, f"the call of attempt {attempt_id} has ended")
    paused = action == "pause"
    try:
        await request.app[CALLS].mute_recording(str(attempt_id), paused)
    except ChannelGone:
        return json_error(409, f"the call of attempt {attempt_id} has ended")
    except CallControlError as error:
        return json_error(502, f"Asterisk did not {action} the recording: {error}")
    await recordings.set_recording_paused(request.app[POOL], attempt_id, paused, datetime.now(UTC))
    return web.json_response({"attempt": str(attempt_id), "recording": state.file,
                              "paused": paused})


async def fetch_recording(request: web.Request) -> web.StreamResponse:
    """A supervisor or an administrator listens to a call's recording: the
    file Asterisk wrote, once the call has ended (MixMonitor completes it
    then). The audit keeps who fetched which call's, and when."""
    attempt_id = _attempt_id(request)
    state = await recordings.recording_of(request.app[POOL], attempt_id)
    if state is None:
        return json_error(404, f"no attempt {attempt_id}")
    if state.file is None:
        return json_error(404, f"attempt {attempt_id} was not recorded")
    if not state.ended:
        return json_error(409, f"the call of attempt {attempt_id} is going on: its recording "
                               "is whole once the call ends")
    # The name is the dialer's (recordings.file_name): never a path.
    path = request.app[RECORDINGS_DIR] / state.file
    if Path(state.file).name != state.file or not path.is_file():
        return json_error(404, f"the recording of attempt {attempt_id} ({state.file}) is not in "
                               "the recordings directory (RECOBRO_RECORDINGS_DIR)")
    return web.FileResponse(path, headers={
        hdrs.CONTENT_TYPE: recordings.CONTENT_TYPE,
        hdrs.CONTENT_DISPOSITION: f'attachment; filename="{state.file}"'})


def _filter_of(request: web.Request) -> DispositionFilter:
    """The query's filters (dates: the document's format, checked
    already); an agent's token sees its own dispositions only."""
    query = request.query
    principal = principal_of(request)
    agent = query.get("agent")
    if principal.role is Role.AGENT:
        if agent not in (None, principal.agent):
            raise http_error(web.HTTPForbidden, f"the token of {principal.agent} lists its "
                                                f"own dispositions only, not {agent}'s")
        agent = principal.agent
    first, last = query.get("from"), query.get("to")
    code = query.get("code")
    return DispositionFilter(query.get("campaign"), None if code is None else code.upper(), agent,
                             None if first is None else date.fromisoformat(first),
                             None if last is None else date.fromisoformat(last))


def disposition_json(record: DispositionRecord) -> dict[str, object]:
    return {"id": record.id, "at": record.at.isoformat(), "attempt": str(record.attempt),
            "campaign": record.campaign, "account": record.account, "code": record.code,
            "agent": record.agent, "note": record.note, "corrects": record.corrects}


async def list_dispositions(request: web.Request) -> web.Response:
    """A page of dispositions by id (corrections their own rows), filtered
    by campaign, code, agent and UTC days."""
    page = page_of(request)
    try:
        records = await disposition_page(request.app[POOL], _filter_of(request), page.after,
                                         page.limit)
    except FilterRefused as error:
        return json_error(400, f"the query's {error.field!r}: {error}")
    return page_response([disposition_json(r) for r in records], page,
                         lambda item: item["id"])


async def payment(request: web.Request) -> web.Response:
    """The agent hands the debtor to the payment capture and stays on the
    line (hearing no key the debtor presses). The process that has the
    call takes the payment; its progress comes on the agent's event
    WebSocket (events of type "payment")."""
    call_id = _attempt_id(request)
    try:
        call = await request.app[STORE].live_call(call_id)
    except UnknownCall as error:
        return json_error(404, str(error))
    except CallNotLive as error:
        return json_error(409, str(error))
    try:
        await request.app[CALLS].request_payment(call.channel, call.agent)
    except ChannelGone:
        return json_error(409, f"the call of {call_id} has ended")
    except CallControlError as error:
        return json_error(502, f"the call of {call_id} could not be handed to the payment "
                               f"capture: {error}")
    return web.json_response({"attempt": str(call_id), "agent": call.agent,
                              "payment": "requested"}, status=202)


def _transfer_json(transfer: Transfer, status: str) -> dict[str, object]:
    if transfer.to_service is not None:
        return {"attempt": str(transfer.call), "agent": transfer.agent,
                "to_service": transfer.to_service.value, "transfer": status}
    return {"attempt": str(transfer.call), "agent": transfer.agent,
            "to_agent": transfer.to_agent, "transfer": status}


async def transfer(request: web.Request) -> web.Response:
    """The agent on a call brings another agent (by name, or by a skill)
    into it, warm: the target is reserved and gets the screen pop, its
    phone is rung (or its session line joins) and the three talk until the
    agent completes the transfer. Its steps come on both agents'
    WebSockets (events of type "transfer"). Or the agent sends the debtor
    to a service (the self-service menu, the inbound queue), cold: the
    agent leaves at once."""
    call_id = _attempt_id(request)
    body = await json_body(request)
    # The document names the services (checked already).
    service = body.get("to_service")
    try:
        made = await request_transfer(request.app[STORE], request.app[CALLS], call_id,
                                      body.get("to_agent"), body.get("to_skill"),
                                      None if service is None else Service(service),
                                      datetime.now(UTC), request.app.get(INBOUND_APP))
    except TransferRefused as error:
        return json_error(error.status, str(error))
    except CallControlError as error:
        return json_error(502, f"the call of {call_id} could not be transferred: {error}")
    return web.json_response(_transfer_json(made, "requested"), status=202)


async def complete(request: web.Request) -> web.Response:
    """The agent leaves the call to its transfer's target (who has joined
    it) and goes to wrap-up; the call is the target's from now on."""
    call_id = _attempt_id(request)
    try:
        made = await complete_transfer(request.app[STORE], request.app[CALLS], call_id)
    except TransferRefused as error:
        return json_error(error.status, str(error))
    except CallControlError as error:
        return json_error(502, f"the call of {call_id}: its transfer could not be completed: "
                               f"{error}")
    return web.json_response(_transfer_json(made, "completing"), status=202)


async def monitor(request: web.Request) -> web.Response:
    """A supervisor listens to a live call, whispers to its agent or barges
    in: the supervisor's phone is called, and joins once it answers."""
    call_id = _attempt_id(request)
    supervisors = request.app.get(SUPERVISORS)
    if supervisors is None:
        return json_error(409, "supervising calls needs Asterisk: this API has no Stasis "
                               "application")
    body = await json_body(request)
    # The document names the modes and shapes the endpoint (checked already).
    mode, supervisor = SupervisionMode(body["mode"]), body["supervisor"]
    try:
        supervision = await supervisors.start(call_id, mode, supervisor,
                                              principal_of(request).name)
    except UnknownCall as error:
        return json_error(404, str(error))
    except UnknownSupervisor as error:
        return json_error(400, str(error))
    except SupervisionRefused as error:
        return json_error(409, str(error))
    except CallControlError as error:
        return json_error(502, f"supervisor {supervisor}: the phone cannot be called: {error}")
    return web.json_response({"attempt": str(call_id), "mode": mode.value,
                              "supervisor": supervisor, "agent": supervision.agent_channel,
                              "line": supervision.leg}, status=202)


async def stop_monitoring(request: web.Request) -> web.Response:
    """A supervisor or admin ends a supervisor's supervision of a call: the
    supervisor's phone is hung up, the call goes on as it was."""
    call_id = _attempt_id(request)
    supervisors = request.app.get(SUPERVISORS)
    if supervisors is None:
        return json_error(409, "supervising calls needs Asterisk: this API has no Stasis "
                               "application")
    # The document shapes the endpoint (checked already).
    supervisor = request.match_info["supervisor"]
    try:
        supervision = await supervisors.stop(call_id, supervisor, principal_of(request).name)
    except UnknownCall as error:
        return json_error(404, str(error))
    except NoSupervision as error:
        return json_error(409, str(error))
    return web.json_response({"attempt": str(call_id), "mode": supervision.mode.value,
                              "supervisor": supervisor, "line": supervision.leg,
                              "supervision": "stopped"})


async def agent_events(request: web.Request) -> web.StreamResponse:
    endpoint = request.match_info["endpoint"]
    if await request.app[STORE].agent(endpoint, datetime.now(UTC)) is None:
        raise http_error(web.HTTPNotFound, f"no agent {endpoint!r}")
    socket = web.WebSocketResponse(heartbeat=20.0)
    if not socket.can_prepare(request).ok:
        return json_error(426, f"GET /agents/{endpoint}/events is a WebSocket: "
                               "the request needs Upgrade: websocket")
    await socket.prepare(request)
    events = request.app[EVENTS]
    queue = events.subscribe(endpoint)
    try:
        reader = asyncio.create_task(_drain(socket))
        while not reader.done():
            getter = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait([getter, reader], return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                await socket.send_json(getter.result())
            else:
                getter.cancel()
    finally:
        events.unsubscribe(endpoint, queue)
    return socket


async def _drain(socket: web.WebSocketResponse) -> None:
    async for message in socket:
        if message.type is WSMsgType.ERROR:
            return


def installer(pool: asyncpg.Pool, events: AgentEvents, calls: CallControl,
              recordings_dir: Path, sessions: AgentSessions | None = None,
              supervisors: Supervisors | None = None, inbound_app: str | None = None,
              asterisk: str | None = None):
    """What puts the agents' routes on the API's application (recordings_dir:
    Asterisk's monitor directory, RECOBRO_RECORDINGS_DIR; sessions: where
    agents' sessions open, supervisors: where supervisors' phones join
    calls, inbound_app: `recobro inbound`'s Stasis application, where a
    transfer to the inbound queue sends the debtor; None all when the API
    has no Stasis application; asterisk: the API's Asterisk server, whose
    calls it transfers to its agents)."""
    def install(app: web.Application) -> None:
        app[STORE], app[POOL], app[EVENTS], app[CALLS] = (AgentStore(pool, asterisk), pool,
                                                          events, calls)
        app[RECORDINGS_DIR] = recordings_dir
        if sessions is not None:
            app[SESSIONS] = sessions
        if supervisors is not None:
            app[SUPERVISORS] = supervisors
        if inbound_app is not None:
            app[INBOUND_APP] = inbound_app
        app.add_routes([
            web.get("/agents", list_agents),
            web.get("/agents/{endpoint}", show_agent),
            web.put("/agents/{endpoint}/skills/{skill}", set_skill),
            web.delete("/agents/{endpoint}/skills/{skill}", remove_skill),
            web.put("/agents/{endpoint}/asterisk", set_server),
            web.post("/agents/{endpoint}/{action}", agent_action),
            web.get("/agents/{endpoint}/events", agent_events),
            web.post("/attempts/{attempt}/disposition", dispose),
            web.post("/attempts/{attempt}/disposition/correction", correct_disposition),
            web.post("/attempts/{attempt}/recording/{action}", recording),
            web.get("/attempts/{attempt}/recording", fetch_recording),
            web.get("/dispositions", list_dispositions),
            web.post("/attempts/{attempt}/payment", payment),
            web.post("/attempts/{attempt}/monitor", monitor),
            web.delete("/attempts/{attempt}/monitor/{supervisor}", stop_monitoring),
            web.post("/attempts/{attempt}/transfer", transfer),
            web.post("/attempts/{attempt}/transfer/complete", complete),
        ])
    return install
