"""The free agents as last read (dialer.agents.free_seen), with a fake of
the agents-coming-free LISTEN: when a read is good, and that an agent
taken while a read was under way does not come back with it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from dialer.agents import free_seen
from dialer.agents.free_seen import FreeAgentsSeen
from dialer.agents.routing import Candidate

SINCE = datetime(2026, 12, 5, 9, tzinfo=UTC)


def free(*endpoints: str) -> list[Candidate]:
    return [Candidate(endpoint, SINCE) for endpoint in endpoints]


class Freed:
    """Agents coming free, as the test says."""

    def __init__(self) -> None:
        self.listening = True
        self.generation = 0
        self.hooks = []

    def mark(self) -> int:
        return self.generation

    def on_free(self, hook) -> None:
        self.hooks.append(hook)

    def came_free(self) -> None:
        self.generation += 1
        for hook in self.hooks:
            hook()


def endpoints(agents: list[Candidate] | None) -> list[str] | None:
    return None if agents is None else [a.endpoint for a in agents]


async def test_a_read_is_good_until_an_agent_comes_free_or_the_listen_goes():
    freed = Freed()
    on_floor = free("agent1001")

    async def read():
        return list(on_floor)

    seen = FreeAgentsSeen(freed, read)
    assert seen.agents() is None
    assert endpoints(await seen.read()) == ["agent1001"]
    assert endpoints(seen.agents()) == ["agent1001"]
    seen.taken("agent1001")
    assert endpoints(seen.agents()) == []
    freed.came_free()  # not reading ahead: the read is stale, none made
    assert seen.agents() is None
    await seen.read()
    freed.listening = False
    assert seen.agents() is None


async def test_reading_ahead_reads_at_the_start_and_on_each_agent_coming_free():
    freed = Freed()
    on_floor = free()

    async def read():
        return list(on_floor)

    seen = FreeAgentsSeen(freed, read)
    seen.start()
    await asyncio.sleep(0)
    assert endpoints(seen.agents()) == []
    on_floor.append(Candidate("agent1002", SINCE))
    freed.came_free()
    await asyncio.sleep(0)
    assert endpoints(seen.agents()) == ["agent1002"]
    await seen.stop()


async def test_an_agent_taken_while_a_read_was_under_way_is_left_out_of_it():
    freed = Freed()
    answered = asyncio.Event()

    async def slow_read():
        await answered.wait()  # the read saw both free, then...
        return free("agent1001", "agent1002")

    seen = FreeAgentsSeen(freed, slow_read)
    reading = asyncio.create_task(seen.read())
    await asyncio.sleep(0)
    seen.taken("agent1001")  # ...a reservation took agent1001
    answered.set()
    assert endpoints(await reading) == ["agent1002"]
    assert endpoints(seen.agents()) == ["agent1002"]


async def test_a_read_older_than_its_time_is_not_used(monkeypatch):
    monkeypatch.setattr(free_seen, "SEEN_FOR_S", 0.05)

    async def read():
        return free("agent1001")

    seen = FreeAgentsSeen(Freed(), read)
    await seen.read()
    assert endpoints(seen.agents()) == ["agent1001"]
    await asyncio.sleep(0.08)
    assert seen.agents() is None


async def test_an_agent_being_taken_is_left_out_of_every_choice_until_its_take_is_over():
    freed = Freed()

    async def read():
        return free("agent1001", "agent1002")

    seen = FreeAgentsSeen(freed, read)
    await seen.read()
    seen.taking("agent1001")
    assert endpoints(seen.agents()) == ["agent1002"]
    # A fresh read begun meanwhile may still find it free: passed over too.
    assert endpoints(seen.untaken(await seen.read())) == ["agent1002"]
    seen.taken("agent1001")  # the take is over (taken, or found not free)
    assert endpoints(seen.agents()) == ["agent1002"]
    assert endpoints(seen.untaken(free("agent1001"))) == ["agent1001"]
