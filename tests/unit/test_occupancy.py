"""Occupancy and agents' wait between calls from their state changes
(dialer.agents.occupancy), measured as pacing.figures measures a stretch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialer.agents.occupancy import StateChange, floor_time
from dialer.agents.state import AgentState as S

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_shift_of_two_calls_counts_talk_and_wrap_up_as_work_and_the_rest_as_wait():
    changes = [
        StateChange("1001", S.READY, at(-50)),  # ready before the window opens
        StateChange("1001", S.RESERVED, at(20)),
        StateChange("1001", S.ON_CALL, at(21)),
        StateChange("1001", S.WRAP_UP, at(81), wrap_up_until=at(91)),  # ready by itself at 91
        StateChange("1001", S.RESERVED, at(150)),
        StateChange("1001", S.ON_CALL, at(151)),
        StateChange("1001", S.PAUSED, at(200)),  # off the floor: neither work nor wait
    ]
    time = floor_time(changes, at(0), at(300))
    assert time.worked_s == 1 + 60 + 10 + 1 + 49
    assert time.ready_s == 20 + (150 - 91)
    assert time.connects == 2
    assert time.occupancy == 121 / (121 + 79)
    assert time.wait_s == 79 / 2


def test_each_agent_is_measured_on_its_own_and_clipped_to_the_window():
    changes = [
        StateChange("1001", S.ON_CALL, at(-30)),  # a call under way when the window opens
        StateChange("1001", S.WRAP_UP, at(30), wrap_up_until=at(40)),
        StateChange("1002", S.LOGGED_OUT, at(-600)),
        StateChange("1002", S.READY, at(50)),
        StateChange("1002", S.RESERVED, at(90)),  # still reserved when the window closes
    ]
    time = floor_time(changes, at(0), at(100))
    assert time.worked_s == 30 + 10 + 10
    assert time.ready_s == 60 + 40
    assert time.connects == 0  # the call under way connected before the window
    assert time.wait_s is None


def test_a_wrap_up_ended_early_by_the_agent_stops_at_the_change():
    changes = [StateChange("1001", S.WRAP_UP, at(0), wrap_up_until=at(60)),
               StateChange("1001", S.READY, at(20))]
    time = floor_time(changes, at(0), at(100))
    assert (time.worked_s, time.ready_s) == (20, 80)


def test_a_floor_with_nobody_logged_in_has_no_occupancy():
    time = floor_time([StateChange("1001", S.LOGGED_OUT, at(-5))], at(0), at(60))
    assert time.occupancy is None and time.wait_s is None


def test_a_longer_windows_changes_give_the_shorter_windows_figures():
    # The floor's exporter reads the last hour's changes once for both its windows.
    since_start = [StateChange("1001", S.WRAP_UP, at(-20), wrap_up_until=at(10)),
                   StateChange("1001", S.READY, at(10)),
                   StateChange("1001", S.ON_CALL, at(40))]
    earlier = [StateChange("1001", S.READY, at(-3000)),
               StateChange("1001", S.ON_CALL, at(-2000)),  # a call taken before the window
               StateChange("1001", S.PAUSED, at(-900))]
    assert floor_time(earlier + since_start, at(0), at(100)) == floor_time(
        since_start, at(0), at(100)) == floor_time(since_start[::-1], at(0), at(100))
    assert floor_time(earlier + since_start, at(0), at(100)).connects == 1


def test_changes_at_the_same_moment_count_in_the_order_given():
    # A wrap-up and a pause stamped alike (one transaction's clock): the
    # pause, made last, is the agent's state when the window opens.
    changes = [StateChange("1001", S.WRAP_UP, at(-170), wrap_up_until=at(-160)),
               StateChange("1001", S.PAUSED, at(-170)),
               StateChange("1001", S.READY, at(50))]
    time = floor_time(changes, at(0), at(100))
    assert (time.worked_s, time.ready_s) == (0, 50)
    assert floor_time(changes[1:], at(0), at(100)) == time
