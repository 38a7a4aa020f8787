"""Time grammar shared by configuration and scheduling.

* Durations use Go's grammar (the reference's config files are full of them): an optional sign, then
  one or more ``<decimal><unit>`` groups with units ``ns``, ``us``/``µs``, ``ms``, ``s``, ``m``,
  ``h``; the bare ``0`` is allowed. There is no day unit: ``1d`` is an error, as in the reference.
* Times of day are ``H:MM`` / ``HH:MM`` on a 24-hour clock, nothing else.
* Time zones are IANA names, resolved with :mod:`zoneinfo` (the ``tzdata`` package ships the
  database, so a machine without ``/usr/share/zoneinfo`` still works).
"""

from __future__ import annotations

import difflib
import re
from datetime import date, timedelta
from fractions import Fraction
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

__all__ = [
    "format_duration",
    "parse_date",
    "parse_deadline",
    "parse_duration",
    "parse_minute_of_hour",
    "parse_time_of_day",
    "zone",
]

# Nanoseconds per unit, as Go's time.ParseDuration knows them.
_UNIT_NS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_GROUP = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_TIME_OF_DAY = re.compile(r"^([0-9]{1,2}):([0-9]{2})$")
_MINUTE_OF_HOUR = re.compile(r"^:([0-9]{2})$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration string (``"30s"``, ``"1h30m"``, ``"+45m"``, ``"0"``).

    Raises ValueError with a message that says what a valid duration looks like.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a duration string such as '30s' or '5m', got {type(text).__name__}")
    s = text
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return timedelta(0)
    if not s:
        raise ValueError(f"invalid duration {text!r}: expected e.g. '30s', '5m', '1h30m'")
    total_ns = 0
    pos = 0
    while pos < len(s):
        m = _GROUP.match(s, pos)
        if not m or m.group(1) in ("", "."):
            if s[pos:].isdigit():
                raise ValueError(f"invalid duration {text!r}: missing unit (use ns, us, ms, s, m or h)")
            raise ValueError(
                f"invalid duration {text!r}: expected e.g. '30s', '5m', '1h30m' (units ns, us, ms, s, m, h; no days)"
            )
        number, unit = m.group(1), m.group(2)
        whole, _, frac = number.partition(".")
        scale = _UNIT_NS[unit]
        total_ns += int(whole or "0") * scale
        if frac:
            total_ns += int(frac) * scale // (10 ** len(frac))
        pos = m.end()
    # Exact integer arithmetic: a float loses microseconds past 2**53 (about 285 years in µs).
    try:
        return sign * timedelta(microseconds=round(Fraction(total_ns, 1000)))
    except OverflowError:
        # timedelta stops at 999 999 999 days; past it is bad input, not a crash (a 500 on the API).
        raise ValueError(f"invalid duration {text!r}: out of range (at most 999999999 days)") from None


def format_duration(value: timedelta) -> str:
    """Render a duration the way Go prints one (``1h30m0s``, ``45m0.5s``, ``1.5ms``)."""
    total_us = round(value.total_seconds() * 1_000_000)
    if total_us == 0:
        return "0s"
    sign = "-" if total_us < 0 else ""
    us = abs(total_us)
    if us < 1_000_000:
        if us < 1000:
            return f"{sign}{_trim(us)}µs"
        return f"{sign}{_trim(us / 1000)}ms"
    hours, rest = divmod(us, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds = _trim(rest / 1_000_000)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _trim(number: float) -> str:
    text = f"{number:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def parse_time_of_day(text: str) -> tuple[int, int]:
    """Parse ``"HH:MM"`` (hour 0-23 with one or two digits, minute 00-59) into (hour, minute)."""
    m = _TIME_OF_DAY.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"invalid time of day {text!r}: expected HH:MM on a 24-hour clock, e.g. '08:30'")
    hour, minute = int(m.group(1)), int(m.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(f"invalid time of day {text!r}: hour must be 0-23 and minute 00-59")
    return hour, minute


def parse_deadline(text: str) -> tuple[int, int] | timedelta:
    """Parse an SLA deadline: a time of day (``"09:30"``) or a duration after midnight (``"+45m"``)."""
    if isinstance(text, str) and re.match(r"^[0-9]{1,2}:[0-9]{2}$", text):
        return parse_time_of_day(text)
    try:
        return parse_duration(text)
    except ValueError:
        raise ValueError(
            f"invalid deadline {text!r}: expected HH:MM (e.g. '09:30') or a duration (e.g. '+45m')"
        ) from None


def parse_minute_of_hour(text: str) -> int:
    """Parse ``":MM"`` (minute 00-59 of an hour): an hourly schedule's deadline, minute MM of the next hour."""
    m = _MINUTE_OF_HOUR.match(text) if isinstance(text, str) else None
    if not m or int(m.group(1)) > 59:
        raise ValueError(f"invalid minute of the hour {text!r}: expected :MM with MM 00-59, e.g. ':15'")
    return int(m.group(1))


def parse_date(text: str) -> date:
    """Parse a calendar date written exactly as ``YYYY-MM-DD``."""
    if not isinstance(text, str) or not _ISO_DATE.match(text):
        raise ValueError(f"invalid date {text!r}: expected YYYY-MM-DD, e.g. '2025-12-25'")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"invalid date {text!r}: {exc}") from None


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """Return the IANA time zone ``name``; ValueError if it does not exist."""
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name or "\0" in name:
        raise ValueError(f"unknown time zone {name!r}: expected an IANA name such as 'Europe/London'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        close = difflib.get_close_matches(name, _zone_names(), n=1, cutoff=0.8)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(
            f"unknown time zone {name!r}{hint}: expected an IANA name such as 'Europe/London'"
        ) from None


@lru_cache(maxsize=1)
def _zone_names() -> list[str]:
    return sorted(available_timezones())
