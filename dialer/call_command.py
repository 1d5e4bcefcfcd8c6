"""What `recobro call` does."""

from __future__ import annotations

import uuid
from dataclasses import replace

from dialer.calls.control import CallEvents
from dialer.calls.state import CallRecord
from dialer.engine import Engine
from dialer.settings import Settings, load_settings
from ivr.greeting import FLOW as GREETING_FLOW
from ivr.greeting import Greeting
from ivr.runner import run_flow


def describe_call(call: CallRecord) -> str:
    """One line for a finished call."""
    if call.hangup_cause is not None:
        cause = f"cause {call.hangup_cause} ({call.hangup_cause_text})"
    elif call.originate_reason is not None:
        cause = (f"Asterisk could not place it (originate reason {call.originate_reason}: "
                 "see its log)" if call.originate_reason == 0
                 else f"originate reason {call.originate_reason}")
    else:
        cause = call.hangup_cause_text or "no cause"
    ring = f"{call.ring_seconds:.1f}" if call.ring_seconds is not None else "-"
    talk = f"{call.talk_seconds:.1f}" if call.talk_seconds is not None else "-"
    outcome = call.outcome.value if call.outcome else "unknown"
    return (f"{call.number}: {outcome}, {cause}, ring {ring} s, talk {talk} s, "
            f"{call.dtmf_count} key(s), call id {call.call_id}")


async def greeting_engine(settings: Settings) -> Engine:
    """An engine whose calls, once answered, are greeted (ivr.greeting): what
    `recobro call` places."""
    engine = await Engine.connect(settings)

    async def greet(call_id: str, events: CallEvents) -> None:
        await run_flow(Greeting(), engine, call_id, events)

    engine.register_flow(GREETING_FLOW, greet)
    return engine


async def call_command(number: str, language: str | None) -> int:
    """Place one call and print its outcome."""
    settings = load_settings()
    # A Stasis application of its own: Asterisk sends an application's
    # events to one WebSocket only, so calls placed side by side by several
    # `recobro call` would otherwise lose each other's.
    app = f"{settings.ari.app}-call-{uuid.uuid4().hex[:12]}"
    settings = replace(settings, ari=replace(settings.ari, app=app))
    async with await greeting_engine(settings) as engine:
        call = await engine.place_call(number, language, flow=GREETING_FLOW)
    print(describe_call(call))
    return 0
