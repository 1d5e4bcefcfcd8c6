"""A TCP server on 127.0.0.1 that speaks as much AMI as a unit test needs:
the base listens, sends Asterisk's banner and leaves the conversation to a
subclass's `converse`. For tests of the AMI client's own behaviour (its
keepalive, its reading pauses) where a replayed stream cannot push back."""

from __future__ import annotations

import asyncio

EOL = b"\r\n"
BANNER = b"Asterisk Call Manager/9.0.0" + EOL


def reply(*lines: str, action_id: str) -> bytes:
    """One AMI response: `lines`, the ActionID it answers, a blank line."""
    return EOL.join(s.encode() for s in [*lines, f"ActionID: {action_id}"]) + EOL + EOL


class FakeAmiServer:
    """Listens on an ephemeral loopback port until stopped."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen; the port chosen."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and wait for the connections to close."""
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.before_banner(writer)
        writer.write(BANNER)
        await self.converse(reader, writer)

    async def before_banner(self, writer: asyncio.StreamWriter) -> None:
        """Set the connection up before anything is sent (nothing by default)."""

    async def converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Everything after the banner; a subclass says what."""
        raise NotImplementedError
