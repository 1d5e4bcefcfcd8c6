import itertools
import random

from dialer.backoff import backoff_delays


def test_delays_double_up_to_the_cap_with_bounded_jitter():
    delays = list(itertools.islice(backoff_delays(0.25, 8.0, 0.2, random.Random(1)), 10))
    nominal = [0.25, 0.5, 1, 2, 4, 8, 8, 8, 8, 8]
    for delay, expected in zip(delays, nominal, strict=True):
        assert expected * 0.8 <= delay <= expected * 1.2
