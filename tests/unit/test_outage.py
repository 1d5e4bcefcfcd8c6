"""Riding out a PostgreSQL outage."""

from dialer.store.outage import Outage


def test_an_outage_is_noted_once_timed_and_given_up_on_after_the_ride_out():
    outage = Outage()
    assert outage.back(10.0) is None and outage.give_up(10.0, "db", 30) is None
    assert outage.lost(10.0, ConnectionRefusedError(111, "Connect call failed"))
    assert not outage.lost(12.0, OSError("again"))  # the same outage
    assert outage.give_up(40.0, "db", 30) is None
    error = outage.give_up(40.5, "127.0.0.1:15432/recobro", 30)
    assert error is not None and "unreachable for 30 s" in str(error)
    assert "127.0.0.1:15432/recobro (DATABASE_URL)" in str(error)
    assert outage.back(41.0) == 31.0 and outage.back(42.0) is None
