"""Typed time values of the configuration: durations, times of day, SLA deadlines, time zones.

Configuration is checked once, at load, and what a model holds afterwards is the parsed value: no
call site parses a string again. Each value keeps the text it was written as and is written back
with exactly that text (``"1h30m"`` stays ``"1h30m"``, never ``"5400s"``; ``"9:05"`` stays
``"9:05"``): pipelines are stored and served as JSON, and the API gives back what it was given.

* :class:`Duration` — a :class:`~datetime.timedelta` (``"30s"``, ``"1h30m"``, ``"+45m"``).
* :class:`TimeOfDay` — a :class:`~datetime.time`, hour and minute (``"08:30"``, ``"9:05"``).
* :class:`MinuteOfHour` — an ``int`` minute of the hour (``":15"``): an hourly schedule's deadline.
* :data:`Deadline` — an SLA deadline: a TimeOfDay, a Duration counted from when the period opens,
  or a MinuteOfHour (minute MM of the hour after the period opens; which kind fits which schedule
  is checked with the schedule, in interlock.config.schedules).
* :data:`TimeZone` — a :class:`~zoneinfo.ZoneInfo`, written back as its IANA key.
* :data:`ForceAt` — a schedule's ``triggerAnyway``: a TimeOfDay, or a Duration written ``+...`` after
  the window opens (never negative: a forced start before the window opens means nothing).

In JSON schema, and so in the API's OpenAPI, each is a string; a value that is not a string gets
pydantic's "Input should be a valid string", as when the fields were plain strings. The grammar
itself (and its error messages) lives in :mod:`interlock.timeutil`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import time, timedelta
from typing import Annotated, Any, SupportsIndex
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, GetCoreSchemaHandler, GetPydanticSchema
from pydantic_core import core_schema

from interlock import timeutil

__all__ = ["Deadline", "Duration", "ForceAt", "MinuteOfHour", "PositiveDuration", "TimeOfDay", "TimeZone",
           "parse_deadline", "parse_force_at"]


def _spelled(parse: Callable[[str], Any], kind: type | tuple[type, ...],
             text_of: Callable[[Any], str]) -> core_schema.CoreSchema:
    """A value validated from its text (a JSON string) and serialised back to that same text."""

    def as_text(value: Any) -> Any:
        # A value already typed (a model built in code, or re-validated) is checked from its own text.
        return text_of(value) if isinstance(value, kind) else value

    return core_schema.no_info_before_validator_function(
        as_text,
        core_schema.no_info_after_validator_function(parse, core_schema.str_schema()),
        serialization=core_schema.plain_serializer_function_ser_schema(text_of, return_schema=core_schema.str_schema()),
    )


def _text(value: Duration | TimeOfDay | MinuteOfHour) -> str:
    return value.text


class Duration(timedelta):
    """A Go-style duration (a timedelta) that remembers how it was written.

    Otherwise a plain timedelta: equal to any timedelta of the same length
    (``Duration("90m") == Duration("1h30m")``), ``str()`` as a timedelta's; arithmetic gives plain
    timedeltas. Raises ValueError on bad text.
    """

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> Duration:
        value = timeutil.parse_duration(text)
        self = super().__new__(cls, value.days, value.seconds, value.microseconds)
        self.text = text
        return self

    def __repr__(self) -> str:
        return f"Duration({self.text!r})"

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        # timedelta pickles as (days, seconds, microseconds); this type is built from its text.
        return (type(self), (self.text,))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return _spelled(cls, cls, _text)


class TimeOfDay(time):
    """A wall-clock time ``H:MM`` / ``HH:MM`` (a :class:`datetime.time`) that remembers how it was written.

    Otherwise a plain ``time``: equal to the ``time`` of the same hour and minute, ``str()`` as a
    time's (``08:30:00``). Raises ValueError on bad text.
    """

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> TimeOfDay:
        hour, minute = timeutil.parse_time_of_day(text)
        self = super().__new__(cls, hour, minute)
        self.text = text
        return self

    def __repr__(self) -> str:
        return f"TimeOfDay({self.text!r})"

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        # time pickles as packed bytes; this type is built from its text.
        return (type(self), (self.text,))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return _spelled(cls, cls, _text)


class MinuteOfHour(int):
    """A minute of the hour written ``":MM"`` (an ``int`` 0-59) that remembers how it was written."""

    text: str

    def __new__(cls, text: str) -> MinuteOfHour:
        self = super().__new__(cls, timeutil.parse_minute_of_hour(text))
        self.text = text
        return self

    def __repr__(self) -> str:
        return f"MinuteOfHour({self.text!r})"

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        return (type(self), (self.text,))


def parse_deadline(text: str) -> TimeOfDay | Duration | MinuteOfHour:
    """An SLA deadline: a time of day (``"09:30"``), a duration after the period opens (``"+45m"``), or ``":MM"``."""
    if isinstance(text, str) and text.startswith(":"):
        try:
            return MinuteOfHour(text)
        except ValueError:
            raise ValueError(f"invalid deadline {text!r}: expected HH:MM (e.g. '09:30'), a duration (e.g. '+45m') "
                             "or :MM for an hourly schedule (e.g. ':15')") from None
    parsed = timeutil.parse_deadline(text)  # the grammar and its error message
    return Duration(text) if isinstance(parsed, timedelta) else TimeOfDay(text)


def parse_force_at(text: str) -> TimeOfDay | Duration:
    """A ``triggerAnyway`` instant: ``"HH:MM"`` (wall time) or ``"+duration"`` after the window opens."""
    if isinstance(text, str) and text.startswith("+"):
        return Duration(text)  # "+-5m" is refused by the duration grammar itself
    if isinstance(text, str) and text[:1].isdigit() and ":" in text:
        return TimeOfDay(text)
    if isinstance(text, str) and text.startswith("-"):
        raise ValueError(f"triggerAnyway {text!r} is before the window opens: write +duration after it opens "
                         "(e.g. '+4h') or a time of day")
    raise ValueError(f"invalid triggerAnyway {text!r}: expected HH:MM (e.g. '10:00') or +duration after the "
                     "window opens (e.g. '+4h')")


def _positive(value: Duration) -> Duration:
    if value <= timedelta(0):
        raise ValueError(f"duration {value.text!r} must be greater than zero")
    return value


def _force_at_schema(source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
    return _spelled(parse_force_at, (TimeOfDay, Duration), _text)


def _zone_key(value: ZoneInfo) -> str:
    return str(value.key)


def _deadline_schema(source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
    return _spelled(parse_deadline, (TimeOfDay, Duration, MinuteOfHour), _text)


def _zone_schema(source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
    # zoneinfo caches one instance per key, so a zone read twice is the same object (and compares equal).
    return _spelled(timeutil.zone, ZoneInfo, _zone_key)


PositiveDuration = Annotated[Duration, AfterValidator(_positive)]
Deadline = Annotated[TimeOfDay | Duration | MinuteOfHour, GetPydanticSchema(_deadline_schema)]
TimeZone = Annotated[ZoneInfo, GetPydanticSchema(_zone_schema)]
ForceAt = Annotated[TimeOfDay | Duration, GetPydanticSchema(_force_at_schema)]
