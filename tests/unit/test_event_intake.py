"""The bound on call events read and not yet handled (dialer.intake): past
it the links stop reading, so a dialer slower than Asterisk holds a bounded
number of events and TCP pushes back on Asterisk; nothing is dropped, and
the order is kept. Against a real TCP server on 127.0.0.1 that floods a
synthetic AMI stream as fast as the socket takes it."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

import pytest

from dialer.calls.events import CallEvent, CallRinging
from dialer.intake import EventIntake
from dialer.metrics.definitions import REGISTRY
from dialer.settings import AmiSettings
from dialer.telephony.ami import AmiClient
from tests.unit.fake_ami_server import EOL, FakeAmiServer, reply

AT = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
BURST = 500  # events the flooding server writes at once


class Switch:
    """A reader that only says whether it is reading."""

    def __init__(self) -> None:
        self.reading = True
        self.pauses = 0
        self.resumes = 0

    def pause_reading(self) -> None:
        self.reading = False
        self.pauses += 1

    def resume_reading(self) -> None:
        self.reading = True
        self.resumes += 1


def _ringing(n: int) -> CallEvent:
    return CallRinging(call_id=f"call-{n}", at=AT)


async def test_the_readers_pause_at_the_bound_and_resume_once_drained():
    intake = EventIntake(pause_at=10, resume_at=3)
    switch = Switch()
    intake.add_reader(switch)
    for n in range(9):
        intake.put(_ringing(n))
    assert switch.reading and not intake.paused
    intake.put(_ringing(9))
    assert not switch.reading and intake.paused and switch.pauses == 1
    # What a link read before it paused is still taken, never dropped.
    for n in range(10, 15):
        intake.put(_ringing(n))
    assert switch.pauses == 1 and intake.waiting == 15
    taken = [await intake.get() for _ in range(11)]
    assert intake.waiting == 4 and not switch.reading
    taken.append(await intake.get())
    assert intake.waiting == 3 and switch.reading and switch.resumes == 1
    taken += [await intake.get() for _ in range(3)]
    assert [e.call_id for e in taken] == [f"call-{n}" for n in range(15)]
    assert intake.most_waiting == 15 and intake.pauses == 1


async def test_the_events_waiting_and_the_pauses_are_exported():
    def sample(name: str) -> float | None:
        return REGISTRY.get_sample_value(name)

    pauses = sample("recobro_asterisk_reading_pauses_total") or 0.0
    intake = EventIntake(pause_at=3, resume_at=1)
    for n in range(3):
        intake.put(_ringing(n))
    assert sample("recobro_asterisk_events_waiting") == 3
    assert sample("recobro_asterisk_reading_pauses_total") == pauses + 1
    await intake.get()
    assert sample("recobro_asterisk_events_waiting") == 2


async def test_a_reader_added_while_paused_starts_paused():
    intake = EventIntake(pause_at=2, resume_at=0)
    intake.put(_ringing(0))
    intake.put(_ringing(1))
    late = Switch()
    intake.add_reader(late)
    assert not late.reading
    await intake.get()
    await intake.get()
    assert late.reading
    await asyncio.wait_for(intake.flowing(), 1)


def test_a_resume_point_at_or_above_the_bound_is_refused():
    with pytest.raises(ValueError, match="resume_at"):
        EventIntake(pause_at=5, resume_at=5)


class FloodingAmi(FakeAmiServer):
    """An AMI server that, once logged in, writes `events` Newstate events
    as fast as its socket takes them; `sent` counts those written but for
    at most its transport's buffer (16 KiB)."""

    def __init__(self, events: int) -> None:
        super().__init__()
        self.events = events
        self.sent = 0
        self.done = asyncio.Event()

    async def before_banner(self, writer: asyncio.StreamWriter) -> None:
        # Small send buffers (asyncio's and the kernel's), so that a reader
        # that stops is felt soon, not after megabytes.
        writer.transport.set_write_buffer_limits(high=16_384)
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65_536)

    async def converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        login = await reader.readuntil(EOL + EOL)
        action_id = next(line.split(b": ", 1)[1] for line in login.split(EOL)
                         if line.startswith(b"ActionID"))
        writer.write(reply("Response: Success", action_id=action_id.decode()))
        try:
            for first in range(0, self.events, BURST):
                writer.write(b"".join(
                    b"Event: Newstate" + EOL + b"ChannelStateDesc: Ringing" + EOL
                    + f"Uniqueid: call-{n}".encode() + EOL + EOL
                    for n in range(first, min(first + BURST, self.events))))
                await writer.drain()
                self.sent = min(first + BURST, self.events)
            self.done.set()
            await reader.read()  # until the client goes
        except ConnectionError:
            pass
        finally:
            writer.close()


async def test_a_dialer_that_stops_handling_events_holds_a_bounded_number_and_loses_none():
    events = 60_000  # about 4 MB of AMI, more than the buffers between hold (about 1.7)
    pause_at = 2_000
    server = FloodingAmi(events)
    port = await server.start()
    intake = EventIntake(pause_at=pause_at, resume_at=500)
    client = AmiClient(AmiSettings(host="127.0.0.1", port=port, user="recobro",
                                   secret="test-only", ping_s=60), on_event=intake.put)
    intake.add_reader(client)
    await client.connect()
    try:
        # Nobody handles the events for a second: Asterisk (the server) keeps sending.
        await asyncio.sleep(1.0)
        assert intake.paused
        # At most the bound and what one socket read held (256 KiB of
        # these 70-byte events), not the stream.
        assert pause_at <= intake.waiting <= pause_at + 256 * 1024 // 60, intake.waiting
        held, sent = intake.waiting, server.sent
        await asyncio.sleep(0.5)
        assert intake.waiting == held  # paused: nothing more is read
        # The rest waits in the kernel's buffers and at the sender, which
        # can write no more: TCP pushed back.
        assert server.sent == sent and not server.done.is_set(), (sent, server.sent)
        # Handled again: every event arrives, in order, none twice.
        async with asyncio.timeout(60):
            for n in range(events):
                event = await intake.get()
                assert event.call_id == f"call-{n}"
        assert server.done.is_set() and intake.waiting == 0
        assert intake.most_waiting <= pause_at + 256 * 1024 // 60
    finally:
        await client.close()
        await server.stop()
