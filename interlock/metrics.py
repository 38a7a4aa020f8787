"""Prometheus metrics kept in the store, so every worker and the API add to the same numbers.

Counters: ``interlock_evaluations_total{status}``, ``interlock_triggers_total{type}``,
``interlock_triggers_failed_total{category}``, ``interlock_claims_unconfirmed_total``,
``interlock_evaluator_errors_total{category}``,
``interlock_sla_alerts_total{alert}``, ``interlock_alerts_total{sink}``,
``interlock_alerts_failed_total{sink}``. Histograms: ``interlock_step_seconds{step}`` (each step's
latency) and ``interlock_push_to_trigger_seconds`` (from the push that made a pipeline ready to
its job's start). ``GET /metrics`` renders them with the gauges read at scrape time
(:mod:`interlock.gauges`, and the archive's lag and cap from
:func:`interlock.steps.archive.archive_gauges`). Recording never raises: metrics must not break the lifecycle, and each
recording is one store round trip (a Redis pipeline) or none.
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
# Histogram buckets for push-to-trigger latency (seconds): a push starts its job within tens of
# milliseconds on an idle deployment; a backlog shows up in the upper buckets.
PUSH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
STEP_SECONDS = "interlock_step_seconds"
PUSH_TO_TRIGGER = "interlock_push_to_trigger_seconds"
HISTOGRAMS = {STEP_SECONDS: BUCKETS, PUSH_TO_TRIGGER: PUSH_BUCKETS}
HELP = {
    "interlock_evaluations_total": "Pipeline evaluations, by readiness status.",
    "interlock_triggers_total": "Jobs started, by trigger type.",
    "interlock_triggers_failed_total": "Runs that failed (start or job), by failure category.",
    "interlock_evaluator_errors_total": "Trait evaluations that ended in ERROR, by failure category.",
    "interlock_sla_alerts_total": "SLA alerts raised (warnings and breaches), by alert type.",
    "interlock_claims_unconfirmed_total": "Claims withdrawn before their job started: no replica acknowledged them.",
    "interlock_alerts_total": "Alerts sent to sinks.",
    "interlock_alerts_failed_total": "Alert deliveries that failed.",
    STEP_SECONDS: "Time spent in each lifecycle step.",
    PUSH_TO_TRIGGER: "Seconds from the push that made a pipeline ready to the start of its job.",
    "interlock_archive_stream_cap": "archiver.streamCap: the change stream's size of reference.",
}
T = TypeVar("T")
# A histogram is stored per (labels, bucket) as ``<name>_hits``: observations in that bucket only;
# rendered as Prometheus' cumulative buckets.
HITS = "_hits"


def _name(metric: str, **labels: str) -> str:
    if not labels:
        return metric
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{metric}{{{inner}}}"


def series(metric: str, **labels: str) -> str:
    """The stored name of one series: ``metric{label="value",...}`` (labels sorted)."""
    return _name(metric, **labels)


def count(store: Store, metric: str, amount: float = 1, **labels: str) -> None:
    add(store, {_name(metric, **labels): amount})


def add(store: Store, amounts: dict[str, float]) -> None:
    """Add to several series (names from :func:`series` / :func:`observation`) in one store call."""
    if not amounts:
        return
    try:
        store.count(amounts)
    except Exception:
        log.warning("could not record metrics %s", sorted(amounts), exc_info=True)


def _bucket_of(seconds: float, buckets: tuple[float, ...]) -> str:
    return next((str(b) for b in buckets if seconds <= b), "+Inf")


def observation(metric: str, seconds: float, **labels: str) -> dict[str, float]:
    """The amounts that record one observation of histogram ``metric`` (for :func:`add`)."""
    # One field per observation (the bucket it falls in), not one per bucket above it: every task
    # records this, and the cumulative Prometheus buckets are summed when /metrics is rendered.
    return {
        _name(metric + HITS, **labels, le=_bucket_of(seconds, HISTOGRAMS[metric])): 1.0,
        _name(metric + "_sum", **labels): seconds,
        _name(metric + "_count", **labels): 1.0,
    }


def observe(store: Store, step: str, seconds: float) -> None:
    add(store, observation(STEP_SECONDS, seconds, step=step))


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


def _labels(inner: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in (part.split("=", 1) for part in inner.split(","))}


def _cumulative_buckets(counts: dict[str, float]) -> dict[str, float]:
    """``counts`` with the stored per-bucket hits turned into Prometheus' cumulative buckets."""
    hits: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, float]] = {}
    out: dict[str, float] = {}
    for name, value in counts.items():
        base, _, inner = name.partition("{")
        if base.endswith(HITS) and base.removesuffix(HITS) in HISTOGRAMS:
            found = _labels(inner.rstrip("}"))
            le = found.pop("le")
            hits.setdefault((base.removesuffix(HITS), tuple(sorted(found.items()))), {})[le] = value
        else:
            out[name] = value
    for (metric, labels), by_bucket in hits.items():
        running = 0.0
        for le in [*map(str, HISTOGRAMS[metric]), "+Inf"]:
            running += by_bucket.get(le, 0.0)
            out[_name(metric + "_bucket", **dict(labels), le=le)] = running
    return out


def _family(base: str) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        if base.endswith(suffix) and base.removesuffix(suffix) in HISTOGRAMS:
            return base.removesuffix(suffix)
    return base


def _value(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def render(counts: dict[str, float], gauges: dict[str, float] | None = None,
           gauge_help: dict[str, str] | None = None) -> str:
    """The Prometheus text exposition of the stored ``counts`` and the scrape-time ``gauges``.

    The series a dashboard or an alert rule reads are rendered at zero before their first
    increment (:func:`_zeros`), so a query never points at a series that does not exist yet.
    """
    counts = _cumulative_buckets({**dict.fromkeys(_zeros(), 0.0), **counts})
    lines: list[str] = []
    families: dict[str, list[str]] = {}
    for name in sorted(counts):
        families.setdefault(_family(name.split("{", 1)[0]), []).append(name)
    for family, names in families.items():
        lines.append(f"# HELP {family} {HELP.get(family, family)}")
        lines.append(f"# TYPE {family} {'histogram' if family in HISTOGRAMS else 'counter'}")
        lines.extend(f"{name} {_value(counts[name])}" for name in names)
    by_family: dict[str, list[str]] = {}
    for name in sorted(gauges or {}):
        by_family.setdefault(name.split("{", 1)[0], []).append(name)
    for family, names in by_family.items():
        lines.append(f"# HELP {family} {(gauge_help or {}).get(family) or HELP.get(family, family)}")
        lines.append(f"# TYPE {family} gauge")
        lines.extend(f"{name} {_value((gauges or {})[name])}" for name in names)
    return "\n".join(lines) + "\n"


# SLA alert types (interlock/steps/sla.py and max_duration.py), each rendered at zero before its first alert.
SLA_ALERTS = ("schedule_missed", "evaluation_sla_breach", "evaluation_sla_at_risk", "validation_timeout",
              "completion_sla_failed", "completion_sla_breach", "completion_sla_at_risk",
              "duration_sla_at_risk", "duration_sla_breach")  # the last two from steps/max_duration.py


def _zeros() -> list[str]:
    """Series present at zero before their first increment, so a rate over them is 0, not empty."""
    from interlock.model import FailureCategory

    categories = [c.value for c in FailureCategory]
    return [PUSH_TO_TRIGGER + "_sum", PUSH_TO_TRIGGER + "_count", _name(PUSH_TO_TRIGGER + HITS, le="+Inf"),
            *(_name("interlock_triggers_failed_total", category=c) for c in categories),
            *(_name("interlock_evaluator_errors_total", category=c) for c in categories),
            *(_name("interlock_sla_alerts_total", alert=a) for a in SLA_ALERTS)]
