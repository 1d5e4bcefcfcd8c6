"""The one reconnect supervisor (dialer.reconnect), against a scripted link:
a loss is reconnected and the owner told, close() stops it mid-backoff, a
failing health check counts as a loss, and only the owner's errors are
retried."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from dialer import reconnect
from dialer.reconnect import Supervisor


class LinkDown(Exception):
    """What the scripted link raises when it cannot be opened."""


class ScriptedLink:
    """A link whose openings fail while `refusing`, and which is lost when
    the test says so."""

    def __init__(self) -> None:
        self.opened = 0
        self.dropped = 0
        self.refusing = False
        self.answering = True
        self.reconnected = asyncio.Event()
        self._gone: asyncio.Future[str] | None = None

    async def connect(self) -> None:
        if self.refusing:
            raise LinkDown("refused")
        self.opened += 1
        self._gone = asyncio.get_running_loop().create_future()

    async def until_lost(self) -> str:
        assert self._gone is not None
        return await self._gone

    def lose(self, why: str = "peer closed") -> None:
        assert self._gone is not None
        self._gone.set_result(why)

    def drop(self) -> None:
        self.dropped += 1

    async def check(self) -> str | None:
        return None if self.answering else "no answer to a ping"

    async def on_reconnect(self) -> None:
        self.reconnected.set()


async def until(predicate, timeout_s: float = 2.0) -> None:
    """Wait for predicate (a loaded machine may take its time)."""
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.005)


def supervisor(link: ScriptedLink, **options) -> Supervisor:
    return Supervisor("test link", connect=link.connect, until_lost=link.until_lost,
                      drop=link.drop, failures=(LinkDown,), on_reconnect=link.on_reconnect,
                      delays=lambda: itertools.repeat(0.01), **options)


async def test_a_lost_link_is_reopened_and_its_owner_told(caplog):
    link = ScriptedLink()
    keeper = supervisor(link)
    await keeper.start()
    assert keeper.up.is_set() and link.opened == 1
    link.refusing = True
    with caplog.at_level(logging.INFO, logger=reconnect.__name__):
        link.lose()
        await asyncio.sleep(0.1)  # several refused attempts
        assert not keeper.up.is_set() and link.dropped == 1
        link.refusing = False
        await asyncio.wait_for(link.reconnected.wait(), 2)
    assert keeper.up.is_set() and link.opened == 2 and keeper.reconnects == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings[0] == "test link lost (peer closed); reconnecting"
    assert warnings[1].startswith("test link back after ")
    assert len(warnings) == 2  # the refused attempts were INFO
    await keeper.close()


async def test_close_in_the_middle_of_a_backoff_stops_it():
    link = ScriptedLink()
    keeper = Supervisor("test link", connect=link.connect, until_lost=link.until_lost,
                        drop=link.drop, failures=(LinkDown,),
                        delays=lambda: itertools.repeat(3600.0))
    await keeper.start()
    link.lose()
    await asyncio.sleep(0.05)  # now asleep before its first attempt
    await asyncio.wait_for(keeper.close(), 1)
    assert not keeper.up.is_set() and link.opened == 1


async def test_a_failing_health_check_counts_as_a_loss():
    link = ScriptedLink()
    keeper = supervisor(link, check=link.check, check_every_s=0.02)
    await keeper.start()
    await asyncio.sleep(0.1)  # checks that pass change nothing
    assert link.dropped == 0
    link.answering = False
    await until(lambda: link.dropped == 1)
    link.answering = True
    await asyncio.wait_for(link.reconnected.wait(), 2)
    assert link.opened == 2
    await keeper.close()


async def test_a_link_down_long_is_said_again_once(caplog, monkeypatch):
    monkeypatch.setattr(reconnect, "STILL_DOWN_S", 0.05)
    link = ScriptedLink()
    keeper = supervisor(link)
    await keeper.start()
    link.refusing = True
    with caplog.at_level(logging.WARNING, logger=reconnect.__name__):
        link.lose()
        await asyncio.sleep(0.2)
    still = [r.getMessage() for r in caplog.records if "still down" in r.getMessage()]
    assert len(still) == 1 and still[0].endswith(": refused")
    await keeper.close()


async def test_an_error_the_owner_did_not_name_is_a_bug_and_ends_it(caplog):
    link = ScriptedLink()
    keeper = supervisor(link)
    await keeper.start()
    with caplog.at_level(logging.ERROR, logger=reconnect.__name__):
        link._gone.set_exception(KeyError("bug"))
        await until(lambda: not keeper.up.is_set())
    assert link.dropped == 0
    assert "no longer kept up" in caplog.text
    await keeper.close()


async def test_a_failing_reconnect_hook_leaves_the_link_watched(caplog):
    link = ScriptedLink()
    calls = 0

    async def broken_hook() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("hook failed")

    keeper = supervisor(link)
    keeper.on_reconnect = broken_hook
    await keeper.start()
    for lost in (1, 2):
        link.lose()
        await until(lambda lost=lost: calls == lost)
    assert keeper.up.is_set() and link.opened == 3
    await keeper.close()


async def test_the_first_opening_raises_its_error():
    link = ScriptedLink()
    link.refusing = True
    with pytest.raises(LinkDown):
        await supervisor(link).start()
