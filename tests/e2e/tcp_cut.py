"""A TCP proxy on 127.0.0.1 in front of one of the lab's services that can
drop the line: every connection through it is closed at once and new ones
are refused for a while, as a network blip or a restarted load balancer
would (the ARI WebSocket dropped, say); or go silent: nothing passes for a
while, no connection is closed, and then what was sent arrives, as TCP
delivers it after a partition heals (a firewall dropping packets); or
stall what the service sends: the connections open now stop reading it
for a while (it waits in the kernel's buffers, then at the service: TCP
pushes back), while what the client sends still goes through, as a client
that stopped reading would look to the service."""

from __future__ import annotations

import asyncio
import contextlib


class CutProxy:
    """Forwards 127.0.0.1:port to 127.0.0.1:upstream until cut."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._refusing_until = 0.0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._reading_upstream: set[asyncio.Event] = set()  # one per connection

    async def start(self) -> CutProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._close_all()
            await self._server.wait_closed()

    def cut(self, for_s: float) -> None:
        """Close every connection now and refuse new ones for for_s."""
        self.cuts += 1
        self._refusing_until = asyncio.get_running_loop().time() + for_s
        self._close_all()

    def silence(self, for_s: float) -> None:
        """Let nothing through for for_s, in either direction, to any
        connection old or new; then deliver what waited."""
        self._flowing.clear()
        asyncio.get_running_loop().call_later(for_s, self._flowing.set)

    def stall(self, for_s: float) -> None:
        """Read nothing the service sends on the connections open now for
        for_s (new ones flow); then read and deliver what waited."""
        stalled = [reading for reading in self._reading_upstream if reading.is_set()]
        for reading in stalled:
            reading.clear()
            asyncio.get_running_loop().call_later(for_s, reading.set)

    def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if asyncio.get_running_loop().time() < self._refusing_until:
            writer.close()
            return
        await self._flowing.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        reading = asyncio.Event()
        reading.set()
        self._reading_upstream.add(reading)
        await asyncio.gather(self._pipe(reader, up_writer),
                             self._pipe(up_reader, writer, reading), return_exceptions=True)
        self._reading_upstream.discard(reading)
        self._writers -= {writer, up_writer}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    reading: asyncio.Event | None = None) -> None:
        try:
            while True:
                if reading is not None:
                    # Stalled: the reader's buffer fills (128 KiB), then its
                    # transport stops reading the socket.
                    await reading.wait()
                data = await reader.read(65536)
                if not data:
                    break
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
