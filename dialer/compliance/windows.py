"""Calling windows: when a debtor may be called, in the debtor's own time.

Presets: ``us`` 08:00-21:00 every day (FDCPA), federal holidays off;
``es`` 09:00-21:00 Monday to Friday, national holidays off (Spanish
consumer law on commercial calls); ``mx`` 07:00-22:00 every day, national
holidays off (CONDUSEF rules for collection agencies); ``local`` picks the
preset of the number's country (``us`` hours elsewhere). A custom profile
is written ``HH:MM-HH:MM`` (every day, no holidays); ``24:00`` closes it at
the day's end, so ``00:00-24:00`` is the whole day."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holiday_calendars

EVERY_DAY = frozenset(range(7))
WEEKDAYS = frozenset(range(5))


@dataclass(frozen=True)
class CallingWindow:
    """Local hours and days a debtor may be called."""

    opens: time
    closes: time
    days: frozenset[int]  # Monday = 0
    holidays_country: str | None  # ISO country whose public holidays are off


PRESETS = {
    "us": CallingWindow(time(8), time(21), EVERY_DAY, "US"),
    "es": CallingWindow(time(9), time(21), WEEKDAYS, "ES"),
    "mx": CallingWindow(time(7), time(22), EVERY_DAY, "MX"),
}
_LOCAL_FALLBACK = "us"
_CUSTOM = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


def check_profile(profile: str) -> str:
    """The profile name if Recobro knows it; ValueError names the choices."""
    window_for(profile, "US")
    return profile


def window_for(profile: str, region: str) -> CallingWindow:
    """The window a profile gives a number of this country."""
    if profile == "local":
        return PRESETS.get(region.lower(), PRESETS[_LOCAL_FALLBACK])
    if profile in PRESETS:
        return PRESETS[profile]
    match = _CUSTOM.match(profile)
    if match:
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        if h1 < 24 and m1 < 60 and m2 < 60 and (h2 < 24 or (h2, m2) == (24, 0)) \
                and (h1, m1) < (h2, m2):
            closes = time.max if h2 == 24 else time(h2, m2)
            return CallingWindow(time(h1, m1), closes, EVERY_DAY, None)
    raise ValueError(f"calling window {profile!r}: use one of {', '.join(sorted(PRESETS))}, "
                     "local, or HH:MM-HH:MM (24:00 for the day's end)")


@lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> holiday_calendars.HolidayBase:
    return holiday_calendars.country_holidays(country, years=year)


def is_holiday(country: str | None, day: date) -> bool:
    """Whether day is a public holiday in country."""
    return country is not None and day in _holidays(country, day.year)


def is_open(window: CallingWindow, zone: str, now: datetime) -> bool:
    """Whether the window is open at now (aware) in zone."""
    local = now.astimezone(ZoneInfo(zone))
    return (local.weekday() in window.days
            and not is_holiday(window.holidays_country, local.date())
            and window.opens <= local.time() < window.closes)


def zone_may_be_open(profile: str, zone: str, now: datetime) -> bool:
    """Whether any window the profile can give is open in zone now (the
    hopper's cheap first filter; the gate decides for each number)."""
    windows = PRESETS.values() if profile == "local" else [window_for(profile, "")]
    return any(is_open(window, zone, now) for window in windows)


def next_opening(window: CallingWindow, zones: tuple[str, ...], now: datetime) -> datetime:
    """The first moment, from now, at which the window is open in every zone
    (checked on the quarter hour; at most 14 days ahead)."""
    step = timedelta(minutes=15)
    moment = now.replace(second=0, microsecond=0)
    moment += timedelta(minutes=(15 - moment.minute % 15) % 15)
    for _ in range(14 * 24 * 4):
        if all(is_open(window, zone, moment) for zone in zones):
            return moment
        moment += step
    return moment


def dialing_ends_s(profile: str, zones: Iterable[str], midnight: datetime) -> float | None:
    """When a campaign with leads in these zones stops dialing on the day
    that begins at midnight (aware, e.g. the pacing clock's): the latest
    close of the profile's window in any zone on that date, in seconds after
    midnight (past 86,400 if it falls on the next day); None for no zones.
    Under ``local`` a zone may hold numbers of any country: the latest
    preset's close counts."""
    windows = PRESETS.values() if profile == "local" else [window_for(profile, "")]
    closes = [datetime.combine(midnight.date(), window.closes, ZoneInfo(zone)) - midnight
              for zone in zones for window in windows]
    return max(closes).total_seconds() if closes else None
