"""A TCP proxy on 127.0.0.1 between Recobro and the lab's Stripe mock that
can hold an answer past the client's timeout or drop it: the request
reaches the gateway (and may charge), the answer never reaches Recobro.

A fault is armed for the next request whose bytes hold a pattern (a path
such as b"/confirm"); it applies to that request's answer once. Requests
on one keep-alive connection are sequential, so the bytes the gateway
sends after such a request are its answer."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class Fault:
    """What to do with the answer to the next request holding pattern:
    hold it for hold_s (then send it, to a client long gone), or until
    release is set, or drop the connection instead (both None)."""

    pattern: bytes
    hold_s: float | None = None
    reached: asyncio.Event = field(default_factory=asyncio.Event)  # the request went on
    release: asyncio.Event | None = None


class FaultProxy:
    """Forwards 127.0.0.1:port to upstream, applying armed faults."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._faults: list[Fault] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def arm(self, fault: Fault) -> Fault:
        self._faults.append(fault)
        return fault

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        pending: list[Fault] = []  # faults of requests sent, for their answers

        async def requests() -> None:
            while data := await reader.read(65536):
                fault = next((f for f in self._faults if f.pattern in data), None)
                if fault is not None:
                    self._faults.remove(fault)
                    pending.append(fault)
                up_writer.write(data)
                await up_writer.drain()
                if fault is not None:
                    fault.reached.set()
            up_writer.close()

        async def answers() -> None:
            while data := await up_reader.read(65536):
                if pending:
                    fault = pending.pop(0)
                    if fault.release is not None:
                        await fault.release.wait()
                    elif fault.hold_s is None:
                        writer.transport.abort()  # the answer is dropped
                        return
                    else:
                        await asyncio.sleep(fault.hold_s)
                writer.write(data)
                await writer.drain()
            writer.close()

        try:
            await asyncio.gather(requests(), answers())
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass  # stop(): ends quietly (asyncio logs a connection task that raises)
        finally:
            for w in (writer, up_writer):
                with contextlib.suppress(Exception):
                    w.transport.abort()
            self._tasks.discard(task)
