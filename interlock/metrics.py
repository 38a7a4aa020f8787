"""Prometheus metrics kept in the store, so every worker and the API add to the same numbers.

Counters: ``interlock_evaluations_total{status}``, ``interlock_triggers_total``,
``interlock_triggers_failed_total``, ``interlock_alerts_total``, ``interlock_alerts_failed_total``;
a latency histogram per step: ``interlock_step_seconds{step}``. ``GET /metrics`` renders them.
Recording never raises: metrics must not break the lifecycle.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from interlock.store.base import Store

log = logging.getLogger(__name__)

# Histogram buckets for step latency (seconds).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
HELP = {
    "interlock_evaluations_total": "Pipeline evaluations, by readiness status.",
    "interlock_triggers_total": "Jobs started.",
    "interlock_triggers_failed_total": "Runs that failed (start or job).",
    "interlock_alerts_total": "Alerts sent to sinks.",
    "interlock_alerts_failed_total": "Alert deliveries that failed.",
    "interlock_step_seconds": "Time spent in each lifecycle step.",
}
T = TypeVar("T")


def _name(metric: str, **labels: str) -> str:
    if not labels:
        return metric
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{metric}{{{inner}}}"


def count(store: Store, metric: str, amount: float = 1, **labels: str) -> None:
    try:
        store.count({_name(metric, **labels): amount})
    except Exception:
        log.warning("could not record metric %s", metric, exc_info=True)


def observe(store: Store, step: str, seconds: float) -> None:
    amounts = {_name("interlock_step_seconds_bucket", step=step, le=str(b)): 1.0 for b in BUCKETS if seconds <= b}
    amounts[_name("interlock_step_seconds_bucket", step=step, le="+Inf")] = 1.0
    amounts[_name("interlock_step_seconds_sum", step=step)] = seconds
    amounts[_name("interlock_step_seconds_count", step=step)] = 1.0
    try:
        store.count(amounts)
    except Exception:
        log.warning("could not record step latency for %s", step, exc_info=True)


@contextmanager
def timed(store: Store, step: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        observe(store, step, time.perf_counter() - start)


def timed_step(store: Callable[[], Store], step: str, fn: Callable[[], T]) -> T:
    with timed(store(), step):
        return fn()


def render(counts: dict[str, float]) -> str:
    """The Prometheus text exposition of ``counts``."""
    lines: list[str] = []
    families: dict[str, list[str]] = {}
    for name in sorted(counts):
        base = name.split("{", 1)[0]
        family = base.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") \
            if base.startswith("interlock_step_seconds") else base
        families.setdefault(family, []).append(name)
    for family, names in families.items():
        lines.append(f"# HELP {family} {HELP.get(family, family)}")
        lines.append(f"# TYPE {family} {'histogram' if family == 'interlock_step_seconds' else 'counter'}")
        for name in names:
            value = counts[name]
            lines.append(f"{name} {int(value) if value == int(value) else value}")
    return "\n".join(lines) + "\n"
