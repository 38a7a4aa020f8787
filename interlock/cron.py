"""Cron expressions: which ones a schedule may name, checked with cronsim (never parsed by hand).

A schedule's ``cron`` is five fields (minute hour day-of-month month day-of-week, Debian cron's
grammar as cronsim reads it: lists, ranges, steps, names, ``L``, ``#``) or one of the usual names
in :data:`CRON_ALIASES`. cronsim also reads a sixth field of seconds: refused here, since a period
shorter than a minute would have no key (interlock/periods.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

from cronsim import CronSim, CronSimError

# The named schedules cron users know, as the five-field expressions they stand for.
CRON_ALIASES: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
# Any instant works to ask cronsim whether an expression ever fires; this one is fixed.
_PROBE = datetime(2000, 1, 1, tzinfo=UTC)


def expression_of(cron: str) -> str:
    """The five-field expression a schedule's ``cron`` stands for (an alias resolved)."""
    text = cron.strip()
    return CRON_ALIASES.get(text.lower(), text)


def check_cron(cron: str) -> str:
    """Return ``cron`` unchanged if it is a usable expression; ValueError saying what is wrong."""
    if not isinstance(cron, str):
        raise ValueError(f"expected a cron expression string, got {type(cron).__name__}")
    text = cron.strip()
    if text.startswith("@"):
        if text.lower() not in CRON_ALIASES:
            raise ValueError(f"unknown cron name {text[:40]!r}: expected one of {', '.join(CRON_ALIASES)}")
        return cron
    if len(text.split()) != 5:
        raise ValueError(f"invalid cron expression {text[:60]!r}: expected five fields "
                         "(minute hour day-of-month month day-of-week), e.g. '0 * * * *'")
    try:
        next(CronSim(text, _PROBE))
    except (CronSimError, StopIteration, ValueError) as exc:
        reason = str(exc) or "it never fires"
        raise ValueError(f"invalid cron expression {text[:60]!r}: {reason.lower()}") from None
    return cron


# Where :func:`shortest_period` samples fire times: the first of each month of one year, so DST
# changes in either hemisphere fall inside a sample of a daily or weekly schedule.
_SAMPLE_STARTS = tuple(datetime(2026, month, 1) for month in range(1, 13))
# Fire times looked at from each start (enough for a weekly schedule to cross a DST change).
_SAMPLE_FIRES = 60


def shortest_period(cron: str, zone: tzinfo) -> timedelta:
    """The shortest time between two fire times of ``cron`` in ``zone`` (sampled over a year, DST included)."""
    return _period_lengths(cron, zone)[0]


def longest_period(cron: str, zone: tzinfo) -> timedelta:
    """The longest time between two fire times of ``cron`` in ``zone`` (sampled likewise)."""
    return _period_lengths(cron, zone)[1]


@lru_cache(maxsize=1024)
def _period_lengths(cron: str, zone: tzinfo) -> tuple[timedelta, timedelta]:
    expression = expression_of(cron)
    gaps: list[timedelta] = []
    for start in _SAMPLE_STARTS:
        fires = CronSim(expression, start.replace(tzinfo=zone))
        last = next(fires, None)
        for _ in range(_SAMPLE_FIRES):
            fire = next(fires, None)
            if fire is None or last is None:
                break
            gaps.append(fire.astimezone(UTC) - last.astimezone(UTC))
            last = fire
    return (min(gaps), max(gaps)) if gaps else (timedelta(days=366), timedelta(days=366))
