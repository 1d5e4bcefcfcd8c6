"""A campaign steered through the operations API while a real dialer runs
it against the lab (issue 17, item 3): `recobro api` (the process a user
runs) creates it, logs the agents in and starts it; `recobro campaign run`
dials; a pause through the API stops new calls, a resume brings them
back, a stop ends the dialer; the audit says which token did
each."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import asyncpg
import pytest

from tests.e2e.cli import cli_env
from tests.e2e.test_agents import api_url, run, start_api

pytestmark = pytest.mark.lab

# Debtors whose phones ring and are never answered (lab number plan: B=4):
# each call lasts the 6 s ring timeout and ties up no agent.
ACCOUNTS = "reference,debtor_name,balance,days_past_due,phone1\n" + "".join(
    f"P{i},Debtor {i},100,10,+12125{i:02d}4000\n" for i in range(40))
# A tick is 0.5 s (dialer.outbound.dialer.TICK_S); a tick under way when
# the campaign is paused may still place its calls: after this, none.
SETTLE_S = 2.0


async def _placed(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM attempts")


async def _more(pool: asyncpg.Pool, than: int) -> bool:
    return await _placed(pool) > than


async def _until(what, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await what():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        await asyncio.sleep(0.25)


async def test_a_campaign_is_created_started_paused_and_stopped_through_the_api(
        lab_config, fresh_database, tmp_path) -> None:
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=fresh_database)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(ACCOUNTS)
    await run(env, "accounts", "import", str(accounts))
    secret = (await run(env, "token", "issue", "--role", "supervisor", "--label", "Marta",
                        "--expires-in", "1h")).splitlines()[-1]
    url = api_url(lab_config)
    api = await start_api(lab_config, env)
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=2)
    dialer = None
    try:
        async with aiohttp.ClientSession(
                base_url=url, headers={"Authorization": f"Bearer {secret}"}) as session:
            async def steer(action: str) -> None:
                async with session.post(f"/campaigns/api/{action}") as response:
                    assert response.status == 200, await response.text()

            async with session.post("/campaigns", json={
                    "name": "api", "caller_id": "+15550100000", "mode": "progressive",
                    "window": "00:00-24:00", "ring_timeout": 6, "wrap_up": 1}) as response:
                assert response.status == 201, await response.text()
                assert (await response.json())["leads_drawn"] == 40
            for agent in lab_config.agents:
                async with session.post(f"/agents/{agent.endpoint}/login") as response:
                    assert response.status == 200, await response.text()
            await steer("start")
            dialer = await asyncio.create_subprocess_exec(
                "recobro", "campaign", "run", "api", "--for", "180", env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            await _until(lambda: _more(pool, 0), 60)

            await steer("pause")
            await asyncio.sleep(SETTLE_S)
            placed = await _placed(pool)
            await asyncio.sleep(5)  # ten ticks: a dialer that dials while paused would
            assert await _placed(pool) == placed
            async with session.get("/campaigns/api") as response:
                shown = await response.json()
            assert shown["state"] == "paused" and shown["leads"]["left"] > 0, shown

            await steer("resume")
            await _until(lambda: _more(pool, placed), 30)

            await steer("stop")
            _, stderr = await asyncio.wait_for(dialer.communicate(), 60)
            assert dialer.returncode == 0, stderr.decode()[-2000:]
            async with session.get("/campaigns/api") as response:
                shown = await response.json()
            assert (shown["state"], shown["calls_in_flight"]) == ("stopped", 0), shown
        audit = await pool.fetch(
            "SELECT t.label, a.role, a.method, a.path, a.status FROM api_audit a "
            "JOIN api_tokens t ON t.id = a.token_id WHERE a.path LIKE '/campaigns%' "
            "ORDER BY a.id")
        assert [tuple(r) for r in audit] == [
            ("Marta", "supervisor", "POST", "/campaigns", 201),
            ("Marta", "supervisor", "POST", "/campaigns/api/start", 200),
            ("Marta", "supervisor", "POST", "/campaigns/api/pause", 200),
            ("Marta", "supervisor", "POST", "/campaigns/api/resume", 200),
            ("Marta", "supervisor", "POST", "/campaigns/api/stop", 200),
        ]
    finally:
        if dialer is not None and dialer.returncode is None:
            dialer.terminate()
            await dialer.wait()
        api.terminate()
        await api.wait()
        await pool.close()
