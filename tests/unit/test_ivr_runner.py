"""The IVR runner against a scripted call: what it plays, what it tells the
flow, barge-in and type-ahead, keys told during a prompt, gathering digits,
effects and their answers, a prompt Asterisk cannot play, the call ending,
a flow cancelled mid-prompt.
The call-control seam is a stand-in; every flow runs on the lab too."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from dialer.calls.control import CallEvents
from dialer.calls.events import (
    CallEnteredApp,
    DtmfReceived,
    FallbackPlayed,
    PlaybackFailed,
    PlaybackFinished,
)
from dialer.errors import AriError
from ivr.actions import (
    Collect,
    Digits,
    FellBack,
    Finish,
    Hangup,
    Key,
    KeyMode,
    Listen,
    Play,
    Played,
    Silence,
    Unplayable,
)
from ivr.runner import run_flow

NOW = datetime(2026, 12, 2, 16, tzinfo=UTC)
PROMPT_S = 0.05  # how long every prompt "plays" here


class Call:
    """A call whose prompts play for PROMPT_S (or fail), and whose keys are
    pressed when the script says: after a prompt starts, at its index."""

    def __init__(self, keys_at_prompt: dict[int, str] | None = None,
                 unplayable: set[str] = frozenset()) -> None:
        self.events = CallEvents(CallEnteredApp(call_id="c1", at=NOW, flow="test"))
        self.keys_at_prompt = keys_at_prompt or {}
        self.unplayable = unplayable
        self.played: list[str] = []
        self.stopped: list[str] = []
        self.hung_up: list[str] = []
        self.noted: list[object] = []

    def clock(self) -> datetime:
        return NOW

    def language_of(self, call_id: str) -> str:
        return "es"

    def note(self, event) -> None:
        self.noted.append(event)

    async def play(self, call_id: str, media: str, language: str) -> str:
        index = len(self.played)
        self.played.append(media)
        playback = f"p{index}"
        loop = asyncio.get_running_loop()
        if media in self.unplayable:
            loop.call_soon(self.events.put, PlaybackFailed(
                call_id="c1", at=NOW, playback_id=playback, media=media, language=language))
            return playback
        for position, key in enumerate(self.keys_at_prompt.get(index, "")):
            loop.call_later(0.005 * (position + 1), self.events.put,
                            DtmfReceived(call_id="c1", at=NOW, digit=key))
        loop.call_later(PROMPT_S, self._finish, playback)
        return playback

    def _finish(self, playback: str) -> None:
        if playback not in self.stopped:
            self.events.put(PlaybackFinished(call_id="c1", at=NOW, playback_id=playback))

    async def stop_playback(self, playback_id: str) -> None:
        self.stopped.append(playback_id)

    async def hang_up(self, call_id: str, reason: str) -> None:
        self.hung_up.append(reason)
        self.events.end()


@dataclass
class Script:
    """A flow that plays its batches in turn and remembers what it heard."""

    batches: list[list[object]]

    def __post_init__(self) -> None:
        self.heard: list[object] = []

    def start(self):
        return 0, self.batches[0]

    def on(self, state, heard):
        self.heard.append(heard)
        return state + 1, self.batches[state + 1]


async def test_a_key_interrupts_a_prompt_and_starts_the_next_collect():
    call = Call(keys_at_prompt={0: "47"})
    flow = Script([[Play("sound:menu"), Play("sound:more"), Collect(4, 0.2)],
                   [Finish("done")]])
    assert await run_flow(flow, call, "c1", call.events) == "done"
    assert call.played == ["sound:menu"] and call.stopped == ["p0"]  # "more" skipped
    assert flow.heard == [Digits("47", "timeout")]


class BridgedCall(Call):
    """A channel in a bridge, whose playbacks Asterisk will not stop."""

    async def stop_playback(self, playback_id: str) -> None:
        raise AriError('ARI DELETE /playbacks/p0: 500 {"message":"Could not stop playback"}')


async def test_a_playback_asterisk_will_not_stop_still_lets_the_key_through():
    call = BridgedCall(keys_at_prompt={0: "1"})
    flow = Script([[Play("sound:menu"), Listen(0.2)], [Play("sound:next"), Finish("done")]])
    assert await run_flow(flow, call, "c1", call.events) == "done"
    assert flow.heard == [Key("1")] and call.played == ["sound:menu", "sound:next"]


async def test_a_flow_cancelled_mid_prompt_stops_its_prompt():
    # A waiting caller's announcement, cut short for the agent who came free.
    call = Call()
    flow = Script([[Play("sound:queue-youarenext"), Play("sound:offer"), Finish()]])
    running = asyncio.create_task(run_flow(flow, call, "c1", call.events))
    await asyncio.sleep(PROMPT_S / 2)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert running.cancelled()
    assert call.played == ["sound:queue-youarenext"] and call.stopped == ["p0"]


async def test_keys_kept_for_later_wait_for_the_listen():
    call = Call(keys_at_prompt={0: "5"})
    flow = Script([[Play("sound:hello", keys=KeyMode.BUFFER), Listen(0.2)], [Finish()]])
    await run_flow(flow, call, "c1", call.events)
    assert call.stopped == [] and flow.heard == [Key("5")]


async def test_a_key_told_during_a_prompt_reaches_the_flow_and_the_prompt_goes_on():
    call = Call(keys_at_prompt={0: "9"})
    effects: list[object] = []

    class OptOut:
        pass

    class Told(Script):
        def on(self, state, heard):
            if isinstance(heard, Key):
                return state, [OptOut()]
            return super().on(state, heard)

    flow = Told([[Play("sound:notice", keys=KeyMode.TELL)], [Hangup("done")]])

    async def handle(effect):
        effects.append(effect)

    assert await run_flow(flow, call, "c1", call.events, handle) is None
    assert [type(e) for e in effects] == [OptOut] and call.stopped == []
    assert flow.heard == [Played()] and call.hung_up == ["done"]


async def test_collect_ends_on_its_end_key_restart_key_or_max_digits():
    for keys, collect, heard in [
            ("12#9", Collect(6, 0.2), Digits("12", "end_key")),
            ("1*", Collect(6, 0.2, restart_key="*"), Digits("1", "restart_key")),
            ("4242", Collect(3, 0.2), Digits("424", "max_digits"))]:
        call = Call(keys_at_prompt={0: keys})
        flow = Script([[Play("sound:ask"), collect], [Finish()]])
        await run_flow(flow, call, "c1", call.events)
        assert flow.heard == [heard], keys


async def test_silence_unplayable_and_fallback():
    call = Call(unplayable={"sound:gone"})
    flow = Script([[Listen(0.02)], [Play("sound:gone")],
                   [FellBack("recobro/gone", "digits:5"), Finish()]])
    await run_flow(flow, call, "c1", call.events)
    assert flow.heard == [Silence(), Unplayable("sound:gone")]
    assert isinstance(call.noted[0], FallbackPlayed) and call.noted[0].media == "digits:5"


async def test_an_effects_answer_is_the_flows_next_input():
    call = Call()

    @dataclass(frozen=True)
    class Charge:
        amount: int

    @dataclass(frozen=True)
    class Approved:
        reference: str

    flow = Script([[Play("sound:wait", keys=KeyMode.BUFFER), Charge(100)], [Finish("paid")]])

    async def gateway(effect):
        return Approved(f"ref-{effect.amount}")

    assert await run_flow(flow, call, "c1", call.events, gateway) == "paid"
    assert flow.heard == [Approved("ref-100")]


async def test_the_call_ending_ends_the_flow():
    call = Call()
    flow = Script([[Play("sound:long"), Listen(5)], [Finish("never")]])
    asyncio.get_running_loop().call_later(0.01, call.events.end)
    assert await run_flow(flow, call, "c1", call.events) is None
    assert flow.heard == []
