"""The HTTP client the SMS channels share (Kannel's sendsms, an HTTP/JSON
provider): one session kept for the sender's life, each request bounded by
the provider timeout, and a provider that does not answer or cannot be
reached is a try that failed (SendFailed, tried again)."""

from __future__ import annotations

from typing import Any

import aiohttp
from yarl import URL

from dialer.messages.channels import SendFailed


class ProviderClient:
    """Requests to one provider, named `what` in errors."""

    def __init__(self, what: str, timeout_s: float) -> None:
        self._what = what
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def request(self, method: str, url: str | URL, **options: Any) -> tuple[int, str]:
        """The answer's status and body; SendFailed when none came."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout_s))
        try:
            async with self._session.request(method, url, **options) as reply:
                return reply.status, await reply.text(errors="replace")
        except TimeoutError:
            raise SendFailed(f"{self._what} did not answer within {self._timeout_s:g} s"
                             ) from None
        except aiohttp.ClientError as error:
            raise SendFailed(f"{self._what}: {type(error).__name__}: {error}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
