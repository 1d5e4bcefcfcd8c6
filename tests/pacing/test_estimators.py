import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacing.estimators import (
    AnswerRate,
    EmpiricalDuration,
    expected_shortfall,
    kaplan_meier_samples,
)

HOUR = 3600.0


def test_answer_rate_starts_from_the_prior_and_learns_each_hour():
    rate = AnswerRate(prior_rate=0.25, prior_strength=20)
    assert rate.rate(10 * HOUR) == 0.25
    rng = np.random.default_rng(1)
    for _ in range(2000):
        rate.record(10 * HOUR + 60, bool(rng.random() < 0.4))
    for _ in range(2000):
        rate.record(15 * HOUR + 60, bool(rng.random() < 0.1))
    assert abs(rate.rate(10 * HOUR + 1800) - 0.4) < 0.03
    assert abs(rate.rate(15 * HOUR + 1800) - 0.1) < 0.03
    # An hour never seen starts from the recent rate, not the cold prior.
    assert abs(rate.rate(18 * HOUR) - 0.1) < 0.05


def test_empirical_duration_is_memoryless_for_exponential_samples():
    rng = np.random.default_rng(2)
    talk = EmpiricalDuration(prior_mean=60)
    for sample in rng.exponential(180, 4000):
        talk.record(sample)
    expected = 1 - math.exp(-20 / 180)
    for elapsed in (0.0, 60.0, 180.0, 300.0):
        assert abs(talk.ends_within(np.array([elapsed]), 20.0)[0] - expected) < 0.03
    assert abs(talk.mean() - 180) < 10


def test_heavy_tail_the_longer_the_call_the_less_likely_it_ends_soon():
    rng = np.random.default_rng(3)
    talk = EmpiricalDuration(prior_mean=100)
    mu = math.log(180) - 1.2 ** 2 / 2
    for sample in rng.lognormal(mu, 1.2, 4000):
        talk.record(sample)
    chances = talk.ends_within(np.array([30.0, 120.0, 400.0, 900.0]), 20.0)
    assert chances[0] > chances[1] > chances[2] > chances[3] > 0


def test_beyond_every_sample_the_tail_is_memoryless():
    talk = EmpiricalDuration(prior_mean=10, prior_points=10)
    chance = talk.ends_within(np.array([1e6]), 10.0)[0]
    assert 0 < chance < 1


@given(st.lists(st.floats(0.1, 1000), min_size=1, max_size=300),
       st.floats(0, 2000), st.floats(0, 200), st.floats(0, 200))
def test_ends_within_is_a_probability_growing_with_the_horizon(samples, elapsed, h1, h2):
    talk = EmpiricalDuration(prior_mean=50)
    for sample in samples:
        talk.record(sample)
    short, long_ = sorted((h1, h2))
    p_short = talk.ends_within(np.array([elapsed]), short)[0]
    p_long = talk.ends_within(np.array([elapsed]), long_)[0]
    assert 0 <= p_short <= p_long <= 1


def test_expected_shortfall_of_a_normal():
    assert abs(expected_shortfall(np.array([0.0]), np.array([1.0]))[0]
               - 1 / math.sqrt(2 * math.pi)) < 1e-9
    rng = np.random.default_rng(4)
    draws = rng.normal(-1.0, 2.0, 400_000)
    assert abs(expected_shortfall(np.array([-1.0]), np.array([4.0]))[0]
               - np.maximum(draws, 0).mean()) < 0.01
    assert expected_shortfall(np.array([-50.0]), np.array([1.0]))[0] < 1e-9


def test_quantiles_of_learnt_durations():
    rng = np.random.default_rng(5)
    delay = EmpiricalDuration(prior_mean=30)
    for sample in rng.exponential(12, 4000):
        delay.record(sample)
    q25, q50, q95 = delay.quantiles((0.25, 0.5, 0.95))
    assert abs(q50 - 12 * math.log(2)) < 1.0
    assert q25 < q50 < q95 and abs(q95 - 12 * math.log(20)) < 3.0


def test_kaplan_meier_without_censoring_is_the_samples_themselves():
    ended = np.array([30.0, 10.0, 20.0, 40.0])
    assert list(kaplan_meier_samples(ended, np.array([]), 4)) == [10.0, 20.0, 30.0, 40.0]
    with pytest.raises(ValueError, match="at least one ended"):
        kaplan_meier_samples(np.array([]), np.array([5.0]), 4)


def test_talks_still_going_on_correct_the_bias_toward_short_calls():
    """Ten minutes into a campaign the talks that ended are the short ones:
    counting those still going on as censored recovers the distribution."""
    rng = np.random.default_rng(7)
    talk = rng.exponential(180.0, 3000)
    elapsed = rng.uniform(0.0, 600.0, 3000)  # since each talk began
    ended, running = talk[talk <= elapsed], elapsed[talk > elapsed]
    naive = EmpiricalDuration(prior_mean=60.0)
    for seconds in ended:
        naive.record(seconds)
    corrected = naive.with_censored(running)
    true_median = 180.0 * math.log(2)
    assert np.median(naive.sorted_samples()) < 0.75 * true_median  # biased short
    assert np.median(corrected.sorted_samples()) == pytest.approx(true_median, rel=0.1)
    assert corrected.mean() == pytest.approx(180.0, rel=0.1)
    assert naive.with_censored(np.array([])) is naive


def test_the_kaplan_meier_tail_past_the_longest_seen_is_memoryless():
    # Every talk still going on outlasts every one that ended.
    samples = kaplan_meier_samples(np.array([10.0, 20.0]), np.array([50.0, 60.0]), 100)
    assert samples[49] == 20.0 and samples[50] > 60.0  # half the mass past 60 s
    assert np.all(np.diff(samples) >= 0)
