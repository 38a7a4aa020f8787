"""Prometheus metrics kept in the store, so every worker and the API add to the same numbers.

Counters: ``interlock_evaluations_total{status}``, ``interlock_triggers_total``,
``interlock_triggers_failed_total``, ``interlock_claims_unconfirmed_total``, ``interlock_alerts_total``,
``interlock_alerts_failed_total``;
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
    "interlock_claims_unconfirmed_total": "Claims withdrawn before their job started: no replica acknowledged them.",
    "interlock_alerts_total": "Alerts sent to sinks.",
    "interlock_alerts_failed_total": "Alert deliveries that failed.",
    "interlock_step_seconds": "Time spent in each lifecycle step.",
}
T = TypeVar("T")
# Stored per (step, bucket): observations in that bucket only; rendered as cumulative buckets.
HITS = "interlock_step_seconds_hits"


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


def _bucket_of(seconds: float) -> str:
    return next((str(b) for b in BUCKETS if seconds <= b), "+Inf")


def observe(store: Store, step: str, seconds: float) -> None:
    # One field per observation (the bucket it falls in), not one per bucket above it: every task
    # records this, and the cumulative Prometheus buckets are summed when /metrics is rendered.
    amounts = {
        _name(HITS, step=step, le=_bucket_of(seconds)): 1.0,
        _name("interlock_step_seconds_sum", step=step): seconds,
        _name("interlock_step_seconds_count", step=step): 1.0,
    }
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


def _cumulative_buckets(counts: dict[str, float]) -> dict[str, float]:
    """``counts`` with the stored per-bucket hits turned into Prometheus' cumulative buckets."""
    hits: dict[str, dict[str, float]] = {}
    out: dict[str, float] = {}
    for name, value in counts.items():
        if name.startswith(HITS + "{"):
            labels = dict(part.split("=", 1) for part in name[len(HITS) + 1:-1].split(","))
            hits.setdefault(labels["step"].strip('"'), {})[labels["le"].strip('"')] = value
        else:
            out[name] = value
    for step, by_bucket in hits.items():
        running = 0.0
        for le in [*map(str, BUCKETS), "+Inf"]:
            running += by_bucket.get(le, 0.0)
            out[_name("interlock_step_seconds_bucket", step=step, le=le)] = running
    return out


def render(counts: dict[str, float]) -> str:
    """The Prometheus text exposition of ``counts``."""
    counts = _cumulative_buckets(counts)
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
