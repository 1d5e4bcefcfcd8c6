"""Pacing by language pool against the real PostgreSQL: the dialer's tick
reads each agent's languages and each call's debtor's, asks the policy for
each language's pool, and claims that many leads of debtors who speak it
(the telephony scripted, as in test_hopper)."""

import os
from datetime import UTC, datetime

import asyncpg
import pytest

from dialer.calls.outcome import CallOutcome
from dialer.outbound import dialers, floor
from dialer.outbound.dialer import CampaignDialer
from dialer.outbound.lifecycles import CampaignAction
from dialer.outbound.store import CampaignStore
from dialer.portfolio.importer import import_file
from dialer.portfolio.importing import ImportDefaults
from dialer.portfolio.model import DialMode
from dialer.portfolio.store import AccountStore
from pacing.pools import LanguageShare
from tests.store.test_hopper import SETTINGS, ScriptedEngine, campaign, number_of

pytestmark = pytest.mark.lab

NOW = datetime(2026, 11, 24, 20, tzinfo=UTC)  # 15:00 in New York: every US zone open


@pytest.fixture
async def pool(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=2, max_size=8)
    yield pool
    await pool.close()


def language_of(i: int) -> str:
    return "en" if i % 4 == 0 else "es"  # a quarter English


async def seat(pool, endpoint: str, languages: list[str]) -> None:
    """The agent ready, speaking these languages (and nothing else)."""
    await pool.execute("DELETE FROM agent_skills WHERE endpoint = $1", endpoint)
    await pool.executemany("INSERT INTO agent_skills (endpoint, skill, level) "
                           "VALUES ($1, $2, 3)",
                           [(endpoint, f"language:{language}") for language in languages])
    await pool.execute("UPDATE agents SET state = 'ready', state_since = $2 "
                       "WHERE endpoint = $1", endpoint, NOW)


async def test_each_pool_dials_debtors_of_its_language(pool, tmp_path, fresh_database):
    path = tmp_path / "accounts.csv"
    path.write_text("reference,debtor_name,balance,days_past_due,risk_score,phone1,language\n"
                    + "".join(f"R{i},Debtor {i},{100 + i},{(i * 7) % 150},0.{i % 9},"
                              f"{number_of(i)},{language_of(i)}\n" for i in range(40)))
    outcome = await import_file(AccountStore(pool), path, {}, ImportDefaults())
    assert outcome.errors == []
    store = CampaignStore(pool)
    c_id = await store.create(campaign("pools", DialMode.PROGRESSIVE))
    await store.steer("pools", CampaignAction.START)
    await store.refresh_leads(c_id)
    await pool.execute("UPDATE agents SET state = 'logged_out'")
    endpoints = [r["endpoint"] for r in await pool.fetch(
        "SELECT endpoint FROM agents ORDER BY endpoint")]
    await seat(pool, endpoints[0], ["en"])
    await seat(pool, endpoints[1], ["en"])
    await seat(pool, endpoints[2], ["es"])
    engine = ScriptedEngine(pool, lambda: NOW, lambda number: CallOutcome.NO_ANSWER)
    lock = await asyncpg.connect(fresh_database)
    try:
        dialer = CampaignDialer(SETTINGS, engine, await store.load("pools"), lock,
                                clock=lambda: NOW)
        await dialers.register_dialer(lock, dialer.dialer_id, c_id, os.getpid(),
                                     dialer.settings.asterisk_name)
        async with pool.acquire() as connection:
            assert await floor.language_shares(connection, c_id) == (
                LanguageShare("en", 0.25), LanguageShare("es", 0.75))
            rows = {r.endpoint: r.languages for r in await floor.agent_rows(connection)}
        assert rows[endpoints[0]] == frozenset({"en"})
        assert rows[endpoints[3]] == frozenset({"es", "en"})  # the lab's, bilingual
        await dialer.tick()
        await dialer.calls_ended()
    finally:
        await lock.close()
    # Progressive in each pool: two English agents, one Spanish (a
    # language-blind claim would mostly bring Spanish debtors: 3 in 4).
    language = {number_of(i): language_of(i) for i in range(40)}
    dialed = sorted(language[number] for number, _ in engine.placed)
    assert dialed == ["en", "en", "es"]
