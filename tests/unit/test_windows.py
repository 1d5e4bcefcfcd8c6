"""Calling windows in the debtor's local time, with holidays."""

from datetime import UTC, datetime

import pytest

from dialer.compliance.windows import (
    PRESETS,
    dialing_ends_s,
    is_open,
    next_opening,
    window_for,
    zone_may_be_open,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_us_window_is_8_to_21_in_the_debtors_zone():
    us = PRESETS["us"]
    # 2026-11-24 (a Tuesday) 13:00 UTC is 08:00 in New York, 05:00 in Los Angeles.
    assert is_open(us, "America/New_York", utc(2026, 11, 24, 13, 0))
    assert not is_open(us, "America/New_York", utc(2026, 11, 24, 12, 59))
    assert not is_open(us, "America/Los_Angeles", utc(2026, 11, 24, 13, 0))
    # 21:00 in New York is closed; 20:59 is open.
    assert is_open(us, "America/New_York", utc(2026, 11, 25, 1, 59))
    assert not is_open(us, "America/New_York", utc(2026, 11, 25, 2, 0))


def test_holidays_close_the_window():
    # Thanksgiving 2026 is Thursday 26 November; noon in New York.
    assert not is_open(PRESETS["us"], "America/New_York", utc(2026, 11, 26, 17))
    # Spain's national day, 12 October 2026 (a Monday).
    assert not is_open(PRESETS["es"], "Europe/Madrid", utc(2026, 10, 12, 10))
    assert is_open(PRESETS["es"], "Europe/Madrid", utc(2026, 10, 13, 10))
    # Mexico's independence day, 16 September.
    assert not is_open(PRESETS["mx"], "America/Mexico_City", utc(2026, 9, 16, 18))


def test_spain_is_weekdays_only_and_mexico_7_to_22():
    assert not is_open(PRESETS["es"], "Europe/Madrid", utc(2026, 11, 28, 10))  # Saturday
    mx = PRESETS["mx"]
    # Mexico City is UTC-6 all year since 2022: 13:00 UTC is 07:00.
    assert is_open(mx, "America/Mexico_City", utc(2026, 11, 24, 13))
    assert not is_open(mx, "America/Mexico_City", utc(2026, 11, 24, 12, 59))


def test_local_profile_uses_the_numbers_country_and_custom_hours():
    assert window_for("local", "ES") is PRESETS["es"]
    assert window_for("local", "JP") is PRESETS["us"]
    custom = window_for("10:30-12:00", "US")
    assert custom.holidays_country is None
    assert is_open(custom, "UTC", utc(2026, 11, 26, 11))
    assert not is_open(custom, "UTC", utc(2026, 11, 26, 12))


def test_a_window_to_24_00_is_open_until_the_days_last_instant():
    # 00:00-23:59 left a minute a day closed: a test dialing at 23:59 in
    # New York found its debtor outside the window.
    whole_day = window_for("00:00-24:00", "US")
    assert is_open(whole_day, "America/New_York", utc(2026, 12, 4, 4, 59, 59))  # 23:59:59
    assert is_open(whole_day, "America/New_York", utc(2026, 12, 4, 5, 0))  # 00:00
    assert not is_open(window_for("00:00-23:59", "US"), "America/New_York",
                       utc(2026, 12, 4, 4, 59, 30))


@pytest.mark.parametrize("bad", ["", "uk", "9-17", "18:00-09:00", "25:00-26:00", "00:00-24:01",
                                 "24:00-24:00"])
def test_an_unknown_profile_is_refused(bad):
    with pytest.raises(ValueError, match="calling window"):
        window_for(bad, "US")


def test_next_opening_is_the_first_moment_open_in_every_zone():
    # 03:00 UTC on Tuesday: New York opens at 13:00 UTC, Los Angeles at 16:00 UTC.
    at = next_opening(PRESETS["us"], ("America/New_York", "America/Los_Angeles"),
                      utc(2026, 11, 24, 3, 7))
    assert at == utc(2026, 11, 24, 16, 0)
    # The day before Thanksgiving at 22:00 New York time: next is Friday 08:00.
    assert next_opening(PRESETS["us"], ("America/New_York",), utc(2026, 11, 26, 3)) \
        == utc(2026, 11, 27, 13, 0)


def test_zone_may_be_open_for_the_local_profile_is_any_preset():
    # 06:00 in Madrid: no preset is open; 07:00: Mexico's is, so a number
    # in Madrid might be callable (the gate then applies Spain's).
    assert not zone_may_be_open("local", "Europe/Madrid", utc(2026, 11, 24, 5))
    assert zone_may_be_open("local", "Europe/Madrid", utc(2026, 11, 24, 6))
    assert not zone_may_be_open("us", "Europe/Madrid", utc(2026, 11, 24, 6))


def test_dialing_ends_at_the_latest_close_among_the_leads_zones():
    """Pacing's abandon budget plans to when the campaign's dialing ends on
    its (UTC) clock: the latest close of the window where its leads are."""
    midnight = utc(2026, 11, 24)
    # 21:00 in New York is 02:00 UTC the next day; in Los Angeles 05:00.
    assert dialing_ends_s("us", ["America/New_York"], midnight) == 26 * 3600
    assert dialing_ends_s("us", ["America/New_York", "America/Los_Angeles"],
                          midnight) == 29 * 3600
    # A custom window's 17:00 in Madrid (UTC+1 in November) is 16:00 UTC.
    assert dialing_ends_s("09:00-17:00", ["Europe/Madrid"], midnight) == 16 * 3600
    # Under local, a zone may hold any country's numbers: Mexico's 22:00.
    assert dialing_ends_s("local", ["America/New_York"], midnight) == 27 * 3600
    assert dialing_ends_s("us", [], midnight) is None
