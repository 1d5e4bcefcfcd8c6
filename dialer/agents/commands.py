"""What `recobro agent ...`, `recobro supervise` and `recobro disposition`
do: move agents through their states, open an agent's session (through
`recobro api`, whose Stasis application holds the line), set their
skills, list them, transfer a call (through `recobro api` too), call a
supervisor's phone onto a live call (likewise), and record an agent's
disposition of a call."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

import aiohttp

from dialer import limits
from dialer.agents.disposition import DispositionEffect
from dialer.agents.state import PERSON_ACTIONS, AgentTransitionError
from dialer.agents.store import AgentStore
from dialer.errors import ConfigError
from dialer.settings import NAME_RULE, ApiSettings, is_name, load_settings
from dialer.store.database import configured_database

API_REQUEST_TIMEOUT_S = 10.0


async def agent_command(action: str, endpoint: str | None, reason: str,
                        skills: str | None, asterisk: str | None = None) -> int:
    """Log an agent in or out, pause or ready it, set its skills or its
    Asterisk server, or list the agents."""
    async with configured_database() as pool:
        store = AgentStore(pool)
        if action == "list":
            for agent in await store.list(datetime.now(UTC)):
                skill_text = ", ".join(f"{k} {v}" for k, v in sorted(agent.skills.items()))
                paused = f" ({agent.pause_reason})" if agent.pause_reason else ""
                server = f"  (on {agent.asterisk})" if agent.asterisk else ""
                print(f"{agent.endpoint:<12}{agent.state.value + paused:<22}{skill_text}{server}")
            return 0
        if endpoint is None:
            raise ConfigError(f"agent {action}: give the agent's ENDPOINT")
        if action == "server":
            server = _server_named(asterisk)
            await store.set_server(endpoint, server)
            print(f"agent {endpoint}: takes calls on "
                  + (f"Asterisk server {server}" if server else "any Asterisk server"))
            return 0
        if action == "skills":
            await store.set_skills(endpoint, parse_skills(skills or ""))
            print(f"agent {endpoint}: skills {skills}")
            return 0
        try:
            moved = await store.act(endpoint, PERSON_ACTIONS[action], datetime.now(UTC),
                                    reason)
        except AgentTransitionError as error:
            raise ConfigError(f"agent {endpoint}: {error}") from None
    already = " (already logged in)" if moved.before is moved.after and action == "login" else ""
    print(f"agent {endpoint}: {moved.after.value}" + (f" ({reason})" if reason else "")
          + already)
    return 0


ANY_SERVER = "any"


def _server_named(asterisk: str | None) -> str | None:
    """`agent server`'s --asterisk: a server's name, or ANY_SERVER (None:
    any server); ConfigError when it is missing or cannot be a name."""
    if asterisk is None:
        raise ConfigError("agent server: give --asterisk NAME (the server's "
                          f"RECOBRO_ASTERISK_NAME), or --asterisk {ANY_SERVER} for any server")
    if asterisk == ANY_SERVER:
        return None
    if not is_name(asterisk):
        raise ConfigError(f"agent server: --asterisk {asterisk!r}: a server's name is "
                          f"{NAME_RULE}")
    return asterisk


async def _ask_api(api: ApiSettings, what: str, path: str,
                   body: dict[str, str] | None = None,
                   method: str = "POST") -> tuple[int, dict[str, object]]:
    """POST (or method) to the `recobro api` at api (RECOBRO_API_HOST,
    RECOBRO_API_PORT, with RECOBRO_API_TOKEN), whose Stasis application does what is asked;
    its status and JSON answer. ConfigError (naming what) when it cannot be
    asked."""
    if not api.token:
        raise ConfigError(f"{what}: RECOBRO_API_TOKEN is not set; `recobro api` does it, "
                          "and wants its token")
    url = f"http://{api.host}:{api.port}{path}"
    try:
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=API_REQUEST_TIMEOUT_S)) as session, \
                session.request(method, url, json=body,
                                headers={"Authorization": f"Bearer {api.token}"}) as response:
            answer = await response.json(content_type=None)
    except (TimeoutError, aiohttp.ClientError, ValueError) as error:
        raise ConfigError(f"{what}: cannot reach `recobro api` at {url} "
                          f"(RECOBRO_API_HOST, RECOBRO_API_PORT): {error or 'timed out'}") from None
    return response.status, answer


async def open_session(endpoint: str) -> int:
    """Ask `recobro api` to call the agent's phone for a session; the
    agent is logged in once the phone answers."""
    line = await request_session(load_settings().api, endpoint)
    print(f"agent {endpoint}: calling the phone for a session (line {line}); "
          "logged in once it is answered")
    return 0


async def request_session(api: ApiSettings, endpoint: str) -> str:
    """Ask the `recobro api` at api to call the agent's phone for a
    session; the line's channel id. ConfigError naming what went wrong."""
    status, body = await _ask_api(api, "agent session", f"/agents/{endpoint}/session")
    if status != 200:
        raise ConfigError(f"agent {endpoint}: session refused: {body.get('error', body)}")
    return str(body["line"])


def _supervised_call(call: str) -> uuid.UUID:
    """The call `recobro supervise` names; ConfigError when it is no UUID."""
    try:
        return uuid.UUID(call)
    except ValueError:
        raise ConfigError(f"supervise: CALL_ID {call!r} is not a call's id (a UUID)") from None


async def supervise(call: str, mode: str, supervisor: str) -> int:
    """Ask `recobro api` to call the supervisor's phone (a PJSIP endpoint)
    to listen to, whisper in or barge in on a live call."""
    call_id = _supervised_call(call)
    status, body = await _ask_api(load_settings().api, "supervise",
                                  f"/attempts/{call_id}/monitor",
                                  {"mode": mode, "supervisor": supervisor})
    if status != 202:
        raise ConfigError(f"supervise {call_id}: refused: {body.get('error', body)}")
    print(f"call {call_id}: calling supervisor {supervisor} to {mode} (line {body['line']}, "
          f"agent's channel {body['agent']}); it joins once answered")
    return 0


async def stop_supervising(call: str, supervisor: str) -> int:
    """Ask `recobro api` to stop the supervisor's supervision of a live
    call: the supervisor's phone is hung up, the call goes on."""
    call_id = _supervised_call(call)
    # Quoted whole: a name that cannot be an endpoint gets the API's 400
    # naming the field, not a path of its own.
    status, body = await _ask_api(load_settings().api, "supervise --stop",
                                  f"/attempts/{call_id}/monitor/{quote(supervisor, safe='')}",
                                  method="DELETE")
    if status != 200:
        raise ConfigError(f"supervise {call_id} --stop: refused: {body.get('error', body)}")
    print(f"call {call_id}: supervisor {supervisor} stopped ({body['mode']}, line "
          f"{body['line']} hung up); the call goes on")
    return 0


async def transfer(call: str, to_agent: str | None, to_skill: str | None,
                   to_service: str | None, complete: bool) -> int:
    """Ask `recobro api` to transfer a live call, warm, to an agent or a
    skill, or cold to a service, or to let its agent leave it to the
    transfer's target."""
    try:
        call_id = uuid.UUID(call)
    except ValueError:
        raise ConfigError(f"agent transfer: {call!r} is not a call's id (a UUID)") from None
    if complete:
        status, body = await _ask_api(load_settings().api, "agent transfer",
                                      f"/attempts/{call_id}/transfer/complete")
    else:
        target = ({"to_agent": to_agent} if to_agent is not None else
                  {"to_skill": to_skill} if to_skill is not None else
                  {"to_service": to_service})
        status, body = await _ask_api(load_settings().api, "agent transfer",
                                      f"/attempts/{call_id}/transfer", target)
    if status != 202:
        raise ConfigError(f"agent transfer {call_id}: refused: {body.get('error', body)}")
    if complete:
        print(f"call {call_id}: {body['agent']} leaves it to {body['to_agent']}")
    elif to_service is not None:
        print(f"call {call_id}: {body['agent']} leaves it; the debtor goes to {to_service}")
    else:
        print(f"call {call_id}: {body['to_agent']} reserved and brought in (warm); "
              f"`recobro agent transfer {call_id} --complete` leaves it to them")
    return 0


def parse_skills(text: str) -> dict[str, int]:
    """`language:es=5,negotiation=3` -> {skill: level}."""
    skills: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        skill, _, level = part.partition("=")
        if not skill or not re.fullmatch(r"[0-9]{1,3}", level):
            raise ConfigError(f"--skills: {part!r} is not skill=level (e.g. language:es=5)")
        limits.check_skill_name("--skills", skill.strip())
        limits.check_skill_level("--skills", skill.strip(), int(level))
        skills[skill.strip()] = int(level)
    return skills


async def dispose(attempt: str, code: str, agent: str, note: str) -> int:
    """An agent's disposition of a call."""
    try:
        attempt_id = uuid.UUID(attempt)
    except ValueError:
        raise ConfigError(f"{attempt!r} is not an attempt id (a UUID)") from None
    async with configured_database() as pool:
        effect = await AgentStore(pool).dispose(attempt_id, code.upper(), agent, note,
                                                datetime.now(UTC))
    print(f"attempt {attempt}: {code.upper()}" + (f" ({effect.value})" if effect is not DispositionEffect.NONE else ""))
    return 0
