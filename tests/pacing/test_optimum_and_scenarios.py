import pytest

from pacing.optimum import lp_optimum, lp_policy, pools_optimum
from pacing.policies.lp import LpOptimal
from pacing.pools import LanguageShare
from pacing.scenario import (
    Scenario,
    ScenarioError,
    Shape,
    exponential,
    fixed,
    parse_scenarios,
)
from pacing.simulator import simulate


def test_lp_with_no_abandons_allowed_is_progressive():
    optimum = lp_optimum(5, 0.3, 180, 20, cap=0.0)
    assert optimum.occupancy == pytest.approx(progressive_share(180, 20, 0.3), abs=1e-6)


def test_lp_scenario_a():
    optimum = lp_optimum(20, 0.3, 180, 20, cap=0.03)
    assert optimum.occupancy == pytest.approx(0.8895, abs=0.002)
    assert optimum.abandon_rate == pytest.approx(0.03, abs=1e-6)


def test_lp_more_abandons_allowed_more_occupancy():
    assert lp_optimum(8, 0.3, 120, 20, 0.01).occupancy < lp_optimum(8, 0.3, 120, 20,
                                                                     0.05).occupancy


def test_lp_grows_with_the_states_and_its_call_limit_does_not_bind():
    optimum = lp_optimum(60, 0.3, 240, 18, 0.03)
    assert optimum.variables <= 2 * optimum.states
    wider = lp_optimum(60, 0.3, 240, 18, 0.03, max_calls=150)
    assert wider.occupancy == pytest.approx(optimum.occupancy, abs=1e-5)
    assert progressive_share(240, 18, 0.3) < optimum.occupancy < 1


def progressive_share(talk_s: float, resolve_s: float, p: float) -> float:
    return talk_s / (talk_s + resolve_s / p)


def test_scenarios_parse_from_toml_and_json():
    toml = """
[[scenarios]]
name = "x"
agents = 3
live_start = 0.3
talk = { shape = "lognormal", mean = 100, sigma = 0.5 }
wrap = 10
"""
    (scenario,) = parse_scenarios(toml, "toml")
    assert scenario.talk.shape is Shape.LOGNORMAL and scenario.wrap.mean == 10
    (same,) = parse_scenarios('{"name": "x", "agents": 3, "live_start": 0.3, '
                              '"talk": {"shape": "lognormal", "mean": 100, "sigma": 0.5},'
                              '"wrap": 10}', "json")
    assert same == scenario
    markov = scenario.markovian_version()
    assert markov.markovian and markov.talk.shape is Shape.EXPONENTIAL
    assert markov.resolve_mean == pytest.approx(0.3 * 12 + 0.7 * 25)


def test_languages_parse():
    (scenario,) = parse_scenarios("""
name = "x"
agents = 4
live_start = 0.3
talk = 100
debtor_languages = { es = 0.7, en = 0.3 }
agent_languages = { es = 2, en = 1, "es+en" = 1 }
""", "toml")
    assert scenario.debtor_languages == (LanguageShare("es", 0.7), LanguageShare("en", 0.3))
    assert scenario.agent_speaks() == [frozenset({"es"})] * 2 + [
        frozenset({"en"}), frozenset({"es", "en"})]
    plain = scenario.without_languages()
    assert (plain.debtor_languages, plain.agent_languages, plain.agents) == ((), (), 4)


@pytest.mark.parametrize("text, field", [
    ('{"name": "x", "agents": 3, "live_start": 1.5, "talk": 100}', "live_start"),
    ('{"name": "x", "agents": 0, "live_start": 0.3, "talk": 100}', "agents"),
    ('{"name": "x", "agents": 3, "live_start": 0.3}', "talk"),
    ('{"name": "x", "agents": 3, "live_start": 0.3, "talk": {"shape": "odd", "mean": 1}}',
     "talk.shape"),
    ('{"name": "x", "agents": 3, "live_start": 0.3, "talk": 100, "colour": 1}', "colour"),
    (('{"scenarios": [{"name": "ok", "agents": 1, "live_start": 0.1, "talk": 5}, '
      '{"name": "x", "agents": 3, "live_start": 0.9, "machine": 0.5, "talk": 5}]}'),
     r"scenarios\[1\]"),
    (('{"name": "x", "agents": 3, "live_start": 0.3, "talk": 5, '
     '"debtor_languages": {"es": 0.7, "en": 0.2}, "agent_languages": {"es": 3}}'),
     r"debtor_languages: the shares add up to 0.9"),
    (('{"name": "x", "agents": 3, "live_start": 0.3, "talk": 5, '
     '"debtor_languages": {"es": 0.7, "en": 0.3}, "agent_languages": {"es": 3}}'),
     r"debtor_languages.en: no agent speaks it"),
    (('{"name": "x", "agents": 3, "live_start": 0.3, "talk": 5, '
     '"debtor_languages": {"es": 1}, "agent_languages": {"es": 2}}'),
     r"agent_languages: 2 agents, but agents is 3"),
    (('{"name": "x", "agents": 3, "live_start": 0.3, "talk": 5, '
     '"debtor_languages": {"es": 1}}'), "debtor_languages and agent_languages go together"),
    (('{"name": "x", "agents": 3, "live_start": 0.3, "talk": 5, '
     '"debtor_languages": {"es": 1}, "agent_languages": {"es": 2, "es+en": 1.5}}'),
     r"agent_languages.es\+en: a positive whole number"),
])
def test_bad_scenarios_name_the_field(text, field):
    with pytest.raises(ScenarioError, match=field):
        parse_scenarios(text, "json")


def test_one_pool_alone_is_the_plain_optimum():
    assert pools_optimum((20,), 0.3, 180, 20, 0.03).occupancy == pytest.approx(
        lp_optimum(20, 0.3, 180, 20, 0.03).occupancy, abs=1e-9)


def test_separate_pools_share_the_cap_and_reach_less_than_one_pool():
    # 12 and 4 agents who speak one language each: the cap is shared, so
    # the pair does at least as well as each pool held to it alone...
    split = pools_optimum((12, 4), 0.25, 180, 18.7, 0.03)
    alone = [lp_optimum(n, 0.25, 180, 18.7, 0.03) for n in (12, 4)]
    assert split.occupancy >= (12 * alone[0].occupancy + 4 * alone[1].occupancy) / 16 - 1e-9
    assert split.abandon_rate == pytest.approx(0.03, abs=1e-6)
    # ...but less than the same 16 agents in one pool: the cost of two pools.
    assert split.occupancy < lp_optimum(16, 0.25, 180, 18.7, 0.03).occupancy - 0.02


def test_pools_must_hold_agents():
    with pytest.raises(ValueError, match="pools"):
        pools_optimum((12, 0), 0.25, 180, 18.7, 0.03)


def test_the_lp_policy_launches_by_a_threshold_in_calls_ringing():
    table = lp_policy(5, 0.275, 180, 20, cap=0.03)
    assert table.optimum == lp_optimum(5, 0.275, 180, 20, cap=0.03)
    assert table.launch_chance(0, 0, 0) == 1.0  # nothing ringing, every agent free
    assert table.launch_chance(5, 0, 0) == 0.0  # every agent busy, nothing waiting
    for busy in range(5):
        chances = [table.launch_chance(busy, ringing, 0) for ringing in range(30)]
        assert chances == sorted(chances, reverse=True), (busy, chances)  # once 0, 0 after
    # Fewer agents free, fewer calls ringing before it waits.
    ringing_at = [sum(table.launch_chance(busy, c, 0) for c in range(30)) for busy in range(5)]
    assert ringing_at == sorted(ringing_at, reverse=True), ringing_at
    # More waiting than the LP counts is read as its most.
    assert table.launch_chance(5, 0, 9) == table.launch_chance(5, 0, table.max_waiting)


def test_no_abandons_allowed_the_lp_policy_is_progressive():
    table = lp_policy(4, 0.3, 120, 20, cap=0.0)
    for busy in range(5):
        assert [table.launch_chance(busy, c, 0) for c in range(8)] == [
            1.0 if c < 4 - busy else 0.0 for c in range(8)], busy


def test_the_lp_policy_in_the_simulator_reaches_the_lp_optimum():
    """The LP's own policy run through the simulator's Markovian version of a
    five-agent team: it reaches the occupancy and abandon rate the LP
    computed (within the noise of three days), which holds the simulator
    and the LP to each other."""
    scenario = Scenario(name="five", agents=5, live_start=0.3, markovian=True,
                        resolve_mean=20.0, talk=exponential(180.0), wrap=fixed(0.0),
                        days=3, seed=7)
    table = lp_policy(5, 0.3, 180.0, 20.0, cap=0.03)
    metrics = simulate(scenario, LpOptimal(table, seed=7))
    assert metrics.occupancy == pytest.approx(table.optimum.occupancy, abs=0.015)
    assert metrics.abandon_rate == pytest.approx(0.03, abs=0.008)


def test_a_large_teams_lp_policy_fills_the_line_from_a_start_it_never_visits():
    """Twenty agents: the optimum never has every agent free and nothing
    ringing, yet a start is just that. The policy launches there, up to as
    many calls ringing as in any state; run through the simulator it
    reaches the LP's occupancy (it launched nothing before: states the LP
    never visits read as 'wait')."""
    table = lp_policy(20, 0.3, 180.0, 20.0, cap=0.03)
    assert table.launch_chance(0, 0, 0) == 1.0
    ringing_at = [sum(table.launch_chance(busy, c, 0) for c in range(120))
                  for busy in range(21)]
    assert ringing_at[0] == max(ringing_at) and ringing_at[20] == 0, ringing_at
    scenario = Scenario(name="twenty", agents=20, live_start=0.3, markovian=True,
                        resolve_mean=20.0, talk=exponential(180.0), wrap=fixed(0.0),
                        days=1, seed=11)
    metrics = simulate(scenario, LpOptimal(table, seed=11))
    assert metrics.occupancy == pytest.approx(table.optimum.occupancy, abs=0.015)
