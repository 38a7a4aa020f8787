"""The only place that reads the time. Everything else takes ``now`` or a :class:`Clock`.

Periods, deadlines and expiry are decided from an injected clock so tests can stand at any instant
(a DST change, midnight in Tokyo) and so no code ever depends on the host's local time zone.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to; for tests and ``interlock check --now``."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")
        self._now = at
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta

    def set(self, at: datetime) -> None:
        with self._lock:
            self._now = at


SYSTEM = SystemClock()


def utcnow() -> datetime:
    """Shorthand for the system clock, for edges (CLI, API) that have no injected clock."""
    return SYSTEM.now()
