"""Pacing by language pool: who is counted where, and the simulator's
agents who take only calls in their languages."""

from pacing.model import AgentState, AgentView
from pacing.policies.simple import Progressive
from pacing.pools import LanguageShare, PoolCall, SkilledAgent, home_pools, split
from pacing.scenario import AgentGroup, Duration, Scenario, Shape
from pacing.simulator import Simulation

ES, EN, BOTH = frozenset({"es"}), frozenset({"en"}), frozenset({"es", "en"})
SHARES = (LanguageShare("es", 0.7), LanguageShare("en", 0.3))


def test_shared_agents_go_where_the_debtors_have_fewest_agents():
    # One-language agents: 2 Spanish (2.9 per share), 0 English (0 per share).
    # The bilingual go to English until it has more per share than Spanish:
    # English 1 (3.3), then Spanish 3 (4.3), then English 2 (6.7).
    homes = home_pools([BOTH, ES, BOTH, ES, BOTH, frozenset({"fr"})], SHARES)
    assert homes == ["en", "es", "es", "es", "en", None]


def test_a_language_without_debtors_gets_no_shared_agent():
    homes = home_pools([BOTH, EN], (LanguageShare("es", 1.0), LanguageShare("en", 0.0)))
    assert homes == ["es", "en"]


def test_each_pool_sees_its_agents_and_its_calls():
    ready = AgentView(AgentState.READY, 90.0)
    talking = AgentView(AgentState.TALKING, 10.0)
    spanish, english = split(100.0, [SkilledAgent(ready, ES), SkilledAgent(talking, EN)],
                             [PoolCall(95.0, "es"), PoolCall(97.0, "en")],
                             [PoolCall(99.0, "en")], SHARES)
    assert spanish.language == "es" and spanish.snapshot.agents == (ready,)
    assert spanish.snapshot.dialing == (95.0,) and spanish.snapshot.waiting == ()
    assert english.snapshot.agents == (talking,)
    assert english.snapshot.dialing == (97.0,) and english.snapshot.waiting == (99.0,)
    assert english.snapshot.now == 100.0


MIXED = Scenario(name="mixed", agents=4, talk=Duration(Shape.LOGNORMAL, 90, 1.0),
                 live_start=0.3, shift_hours=1.5, seed=3,
                 debtor_languages=SHARES,
                 agent_languages=(AgentGroup(ES, 3), AgentGroup(EN, 1)))


def test_progressive_by_pool_never_abandons_and_language_blind_does():
    """Progressive dialing launches a call only for a free agent. By pool,
    that agent speaks the debtor's language: nobody is abandoned. Blind to
    languages, a debtor may answer when only an agent of the other language
    is free: abandoned, though an agent was free."""
    by_pool = Simulation(MIXED, Progressive()).run()
    assert by_pool.abandoned == 0
    assert by_pool.people_by_language["es"] > by_pool.people_by_language["en"] > 20
    blind = Simulation(MIXED, Progressive(), by_pool=False).run()
    assert blind.abandoned > 0
    assert blind.abandoned == sum(blind.abandoned_by_language.values())
    unconstrained = Simulation(MIXED.without_languages(), Progressive()).run()
    assert unconstrained.abandoned == 0 and set(unconstrained.people_by_language) == {""}

