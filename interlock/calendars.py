"""Dormant days: named YAML calendars, inline days/dates, and public holidays (`holidays:US`).

``exclusions: {calendar: holidays:GB-ENG}`` uses the ``holidays`` package's calendar for that
country (and subdivision), so nobody maintains a YAML list of bank holidays by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any

from interlock.model import Calendar

HOLIDAYS_PREFIX = "holidays:"


def parse_holiday_calendar(name: str) -> tuple[str, str | None]:
    """``holidays:GB-ENG`` -> ("GB", "ENG"); ValueError naming what is supported when unknown."""
    import holidays

    spec = name[len(HOLIDAYS_PREFIX):]
    country, _, subdiv = spec.partition("-")
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValueError(f"unknown public-holiday country {country!r} in {name!r}; use an ISO code such as "
                         "holidays:US or holidays:GB-ENG")
    if subdiv and subdiv not in supported[country]:
        raise ValueError(f"unknown subdivision {subdiv!r} of {country} in {name!r}; known: "
                         f"{', '.join(supported[country][:20])}")
    return country, subdiv or None


@lru_cache(maxsize=64)
def _holidays(country: str, subdiv: str | None) -> Any:
    import holidays

    return holidays.country_holidays(country, subdiv=subdiv)


def is_holiday(name: str, day: date) -> bool:
    country, subdiv = parse_holiday_calendar(name)
    return day in _holidays(country, subdiv)


def is_dormant(calendar_name: str | None, days: list[str], dates: list[str], day: date,
               calendars: Mapping[str, Calendar]) -> bool:
    """Whether ``day`` is excluded by the inline lists or the named calendar."""
    return is_listed(calendar_name, days, dates, day, calendars)


def is_listed(calendar_name: str | None, days: list[str], dates: list[str], day: date,
              calendars: Mapping[str, Calendar]) -> bool:
    """Whether ``day`` is on the inline lists or the named calendar (for exclusions and inclusions alike)."""
    from interlock.timeutil import WEEKDAYS

    all_days = {d.lower() for d in days}
    all_dates = set(dates)
    if calendar_name:
        if calendar_name.startswith(HOLIDAYS_PREFIX):
            if is_holiday(calendar_name, day):
                return True
        elif (calendar := calendars.get(calendar_name)) is not None:
            all_days |= {d.lower() for d in calendar.days or []}
            all_dates |= set(calendar.dates or [])
    return WEEKDAYS[day.weekday()] in all_days or day.isoformat() in all_dates
