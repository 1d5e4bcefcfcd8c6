"""Recording AMI from the lab for the replay tests (tests/unit/test_ami_replay.py):
what Asterisk said to Recobro's own AmiClient, through panoramisk's
save_stream, stored the way panoramisk.testing.Manager replays it.

    .venv/bin/python -m lab.ami_recording tests/fixtures/ami

needs the lab up (`recobro lab up`). Only what Asterisk sent is stored,
never what was sent to it (the Login's secret); every secret of the lab's
settings is redacted all the same. Each stream is one step:

    login_ok.ami           the banner and the Login's answer
    login_refused.ami      the Login's answer to a wrong secret
    originate_queued.ami   an async Originate's answer ("queued")
    answered_call.ami      that call's events: ringing, answered, into the
                           Stasis application, hung up there over ARI
    action_refused.ami     a MixMonitor on a channel that does not exist
"""

from __future__ import annotations

import asyncio
import io
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from panoramisk import Manager

from dialer.calls.events import CallEnteredApp, CallEvent, CallHungUp
from dialer.errors import AmiError
from dialer.settings import (
    AmiSettings,
    Settings,
    load_settings,
    read_env_file,
    secrets_of,
)
from dialer.telephony.ami import AmiClient, open_manager
from dialer.telephony.ari import AriClient
from lab.config import load_lab_config
from lab.number_plan import Behaviour, lab_number

# The call's id (its channel's unique id) in answered_call.ami.
RECORDED_CALL_ID = "5eed0000-0000-4000-8000-00000000a001"
RECORDING_APP = "recobro-recording"  # a Stasis application no process holds
# panoramisk.testing gives every action this id, so each answer is stored with it.
REPLAY_ACTION_ID = "action/transaction_uid/1/1"
CALL_S = 20.0  # the recorded call ends well within this


class _Recorder:
    """Opens AmiClient's Manager with a save_stream, and cuts the stream
    into steps."""

    def __init__(self) -> None:
        self.manager: Manager | None = None
        self.stream = io.BytesIO()

    async def open_link(self, settings: AmiSettings, **config: Any) -> Manager:
        self.manager = await open_manager(settings, save_stream=self.stream, **config)
        return self.manager

    def cut(self) -> bytes:
        """What Asterisk said since the last cut."""
        said, self.stream = self.stream.getvalue(), io.BytesIO()
        if self.manager is not None:
            self.manager.save_stream = self.stream
        return said


def replayable(said: bytes, secrets: list[str]) -> bytes:
    """AMI as panoramisk.testing replays it: lines end in \\n, every
    ActionID is the one it gives each action; no secret in it."""
    text = said.decode("utf-8").replace("\r\n", "\n")
    text = re.sub(r"(?m)^ActionID: .*$", f"ActionID: {REPLAY_ACTION_ID}", text)
    for secret in secrets:
        text = text.replace(secret, "REDACTED")
    return text.encode("utf-8")


def _messages_of_call(said: bytes, call_id: str) -> bytes:
    """Only the messages that name the call (an idle lab says little else)."""
    messages = said.decode("utf-8").replace("\r\n", "\n").split("\n\n")
    return "".join(m.strip("\n") + "\n\n" for m in messages if call_id in m).encode("utf-8")


async def _answered_call(settings: Settings, recorder: _Recorder, client: AmiClient,
                         ended: asyncio.Event) -> tuple[bytes, bytes]:
    """Place the call, hang it up over ARI once it is in the application,
    wait for AMI's Hangup (ended); the Originate's answer, the call's events."""
    entered: asyncio.Queue[str] = asyncio.Queue()

    def heard(event: CallEvent) -> None:
        if isinstance(event, CallEnteredApp):
            entered.put_nowait(event.call_id)

    ari = AriClient(replace(settings.ari, app=RECORDING_APP), heard)
    await ari.connect()
    try:
        await client.originate(call_id=RECORDED_CALL_ID,
                               channel=f"PJSIP/{lab_number(Behaviour.ANSWER_AND_STAY, '10')}"
                                       f"@{settings.trunk}",
                               app=RECORDING_APP, flow="greeting", language="es",
                               caller_id=settings.caller_id, timeout_s=CALL_S)
        queued = recorder.cut()
        await ari.hangup(await asyncio.wait_for(entered.get(), CALL_S))
        await asyncio.wait_for(ended.wait(), CALL_S)
        await asyncio.sleep(0.5)  # the call's last events
    finally:
        await ari.close()
    return queued, _messages_of_call(queued + recorder.cut(), RECORDED_CALL_ID)


async def record(settings: Settings, out: Path) -> list[Path]:
    """Record each step against the lab's Asterisk into out; the files written."""
    secrets = secrets_of({"RECOBRO_AMI_SECRET": settings.ami.secret,
                          "RECOBRO_ARI_PASSWORD": settings.ari.password,
                          "RECOBRO_API_TOKEN": settings.api.token,
                          "DATABASE_URL": settings.database_url})
    steps: dict[str, bytes] = {}
    ended = asyncio.Event()

    def heard(event: CallEvent) -> None:
        if isinstance(event, CallHungUp) and event.call_id == RECORDED_CALL_ID:
            ended.set()

    refused = _Recorder()
    wrong = AmiClient(replace(settings.ami, secret="not-the-lab-secret"), heard,
                      open_link=refused.open_link)
    try:
        await wrong.connect()
    except AmiError:
        steps["login_refused.ami"] = refused.cut()
    else:
        await wrong.close()
        raise SystemExit("the lab's AMI took a wrong secret")

    recorder = _Recorder()
    client = AmiClient(settings.ami, heard, open_link=recorder.open_link)
    await client.connect()
    try:
        steps["login_ok.ami"] = recorder.cut()
        queued, call = await _answered_call(settings, recorder, client, ended)
        steps["originate_queued.ami"] = next(
            m for m in queued.split(b"\r\n\r\n") if m.startswith(b"Response:")) + b"\r\n\r\n"
        steps["answered_call.ami"] = call
        try:
            await client.record("PJSIP/no-such-channel-00000000", "recording-check")
        except AmiError:
            pass
        steps["action_refused.ami"] = recorder.cut()
    finally:
        await client.close()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, said in steps.items():
        path = out / name
        path.write_bytes(replayable(said, secrets))
        written.append(path)
    return written


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/ami")
    settings = load_settings(read_env_file(load_lab_config().env_file))
    for path in asyncio.run(record(settings, out)):
        print(f"{path}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
