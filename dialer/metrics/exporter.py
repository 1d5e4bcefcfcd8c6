"""A process's /metrics: an aiohttp listener (loopback unless set) that
serves the process's registry in Prometheus's text format, a sampler of the
event loop's lag, and, where Prometheus discovers targets from files, a
target file that announces the listener while it is up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Self

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dialer.errors import ConfigError
from dialer.metrics.definitions import LOOP_LAG, REGISTRY
from dialer.settings import MetricsSettings

LAG_EVERY_S = 0.25  # how often the loop's lag is sampled


class MetricsExporter:
    """Serves /metrics for one process until closed. before_scrape, if
    given, refreshes figures read at scrape time (the API's from PostgreSQL)."""

    def __init__(self, settings: MetricsSettings, process: str,
                 before_scrape: Callable[[], Awaitable[None]] | None = None) -> None:
        self.settings = settings
        self.process = process
        self.before_scrape = before_scrape
        self.port: int | None = None  # the port it listens on, once started
        self._runner: web.AppRunner | None = None
        self._lag: asyncio.Task[None] | None = None
        self._target: Path | None = None

    async def start(self) -> None:
        """Listen (ConfigError naming the setting when the port is taken),
        sample the loop's lag, and announce the target."""
        if self.settings.port is None:
            return
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        try:
            await site.start()
        except OSError as error:
            await self._runner.cleanup()
            raise ConfigError(f"cannot serve /metrics on {self.settings.host}:"
                              f"{self.settings.port} (RECOBRO_METRICS_HOST, "
                              f"RECOBRO_METRICS_PORT): {error.strerror}") from None
        self.port = self._runner.addresses[0][1]  # the one bound (port 0: the OS chose)
        self._lag = asyncio.create_task(_sample_lag(), name="metrics: event loop lag")
        if self.settings.targets_dir is not None:
            self._target = self._announce(self.settings.targets_dir)

    async def close(self) -> None:
        """Stop listening and withdraw the target."""
        if self._target is not None:
            self._target.unlink(missing_ok=True)
        if self._lag is not None:
            self._lag.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.before_scrape is not None:
            await self.before_scrape()
        return web.Response(body=generate_latest(REGISTRY),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    def _announce(self, directory: Path) -> Path:
        """A file_sd target file for this process, written whole (renamed
        into place: Prometheus never reads half of one)."""
        target = directory / f"recobro-{self.process}-{os.getpid()}.json"
        staged = target.with_suffix(".tmp")
        staged.write_text(json.dumps([{"targets": [f"{self.settings.host}:{self.port}"],
                                       "labels": {"process": self.process}}]))
        staged.replace(target)
        return target


async def _sample_lag() -> None:
    """How late a timer of LAG_EVERY_S fires, observed every time."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + LAG_EVERY_S
        await asyncio.sleep(LAG_EVERY_S)
        LOOP_LAG.observe(max(0.0, loop.time() - asked))
