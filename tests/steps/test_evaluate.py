"""The evaluate step: the reference's behaviours, TTL reuse, pushed traits, events, alerts once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interlock.clock import FrozenClock
from interlock.errors import BadPush, UnknownPipeline
from interlock.model import EventKind, FailureCategory, ReadinessStatus, TraitStatus
from interlock.steps.evaluate import evaluate
from interlock.steps.push import push_trait
from interlock.store.base import TraitSource
from tests.steps.conftest import Harness


def kinds(harness: Harness, pipeline: str) -> list[EventKind]:
    return [r.event.kind for r in harness.store.list_events(pipeline, 500)]


def test_one_passing_required_trait_is_ready(harness: Harness) -> None:
    harness.archetype("a", ["freshness"])
    harness.pipeline("orders", "a", {"freshness": "pass"})
    evaluation = evaluate(harness.deps(), "orders")
    assert evaluation.result.status is ReadinessStatus.READY
    assert evaluation.result.blocking == []
    assert [t.status for t in evaluation.result.traits] == [TraitStatus.PASS]


def test_a_failing_required_trait_blocks(harness: Harness) -> None:
    harness.archetype("a", ["freshness"])
    harness.pipeline("orders", "a", {"freshness": "fail"})
    result = evaluate(harness.deps(), "orders").result
    assert (result.status, result.blocking) == (ReadinessStatus.NOT_READY, ["freshness"])
    assert result.traits[0].reason == "deliberate test failure"


def test_a_trait_with_no_evaluator_and_no_push_is_stale_and_blocks(harness: Harness) -> None:
    harness.archetype("a", ["freshness"])
    harness.pipeline("orders", "a", {})
    result = evaluate(harness.deps(), "orders").result
    assert result.blocking == ["freshness"]
    assert result.traits[0].status is TraitStatus.STALE
    assert result.traits[0].reason is not None and "no pushed result" in result.traits[0].reason


def test_a_pushed_result_decides_a_trait_without_evaluator(harness: Harness) -> None:
    harness.archetype("a", ["marker", "freshness"])
    harness.pipeline("orders", "a", {"freshness": "pass"})
    deps = harness.deps()
    assert evaluate(deps, "orders").result.blocking == ["marker"]
    push_trait(deps, "orders", "marker", "PASS", value={"rows": 10}, reason="loaded")
    result = evaluate(deps, "orders").result
    assert result.status is ReadinessStatus.READY
    marker = result.traits[0]
    assert (marker.status, marker.source, marker.value) == (TraitStatus.PASS, "push", {"rows": 10})


def test_a_pushed_result_stops_counting_when_its_ttl_ends(harness: Harness) -> None:
    harness.archetype("a", ["marker"])
    harness.pipeline("orders", "a", {})
    clock = FrozenClock(datetime.now(UTC))
    deps = harness.deps(clock)
    push_trait(deps, "orders", "marker", "PASS", ttl=60)
    assert evaluate(deps, "orders").ready
    clock.advance(timedelta(seconds=61))
    assert evaluate(deps, "orders").result.blocking == ["marker"]


def test_a_pass_within_its_ttl_is_reused_without_running_the_evaluator(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = tmp_path / "count"
    monkeypatch.setenv("COUNT_FILE", str(count))
    harness.archetype("a", ["freshness"], ttl=300)
    harness.pipeline("orders", "a", {"freshness": "counted-pass"})
    clock = FrozenClock(datetime.now(UTC))
    deps = harness.deps(clock)
    first = evaluate(deps, "orders").result.traits[0]
    second = evaluate(deps, "orders").result.traits[0]
    assert count.read_text().count("run") == 1
    assert (first.cached, second.cached) == (None, True)
    clock.advance(timedelta(seconds=301))
    evaluate(deps, "orders")
    assert count.read_text().count("run") == 2


def test_a_fail_is_evaluated_again_every_time(harness: Harness) -> None:
    harness.archetype("a", ["freshness"], ttl=300)
    harness.pipeline("orders", "a", {"freshness": "fail"})
    deps = harness.deps()
    evaluate(deps, "orders")
    evaluate(deps, "orders")
    evaluated = [r for r in harness.store.list_events("orders", 100) if r.event.kind is EventKind.TRAIT_EVALUATED]
    assert len(evaluated) == 2


def test_evaluator_breakage_is_an_error_with_its_category(harness: Harness) -> None:
    harness.archetype("a", ["t1", "t2", "t3"])
    harness.pipeline("orders", "a", {"t1": "exit-error", "t2": "exit-permanent", "t3": "bad-json"})
    traits = evaluate(harness.deps(), "orders").result.traits
    assert [(t.status, t.failure_category) for t in traits] == [
        (TraitStatus.ERROR, FailureCategory.TRANSIENT),
        (TraitStatus.ERROR, FailureCategory.PERMANENT),
        (TraitStatus.ERROR, FailureCategory.PERMANENT),
    ]


def test_optional_failures_never_block(harness: Harness) -> None:
    harness.archetype("a", ["t1"], optional=("quality",))
    harness.pipeline("orders", "a", {"t1": "pass", "quality": "fail"})
    result = evaluate(harness.deps(), "orders").result
    assert result.status is ReadinessStatus.READY
    assert [t.trait_type for t in result.traits] == ["t1", "quality"]


def test_traits_and_the_verdict_are_recorded_as_events_with_what_decided_them(harness: Harness) -> None:
    harness.archetype("a", ["t1", "t2"])
    harness.pipeline("orders", "a", {"t1": "pass", "t2": "fail"})
    evaluate(harness.deps(), "orders")
    events = [r.event for r in harness.store.list_events("orders", 100)]
    traits = {e.trait_type: e for e in events if e.kind is EventKind.TRAIT_EVALUATED}
    assert traits["t2"].status == "FAIL" and traits["t2"].message == "deliberate test failure"
    assert traits["t1"].details is not None and traits["t1"].details["value"] == {"test": True}
    assert "durationMs" in traits["t1"].details
    verdict = events[-1]
    assert verdict.kind is EventKind.READINESS_CHECKED and verdict.status == "NOT_READY"
    assert verdict.details is not None
    assert verdict.details["blocking"] == ["t2"]
    assert verdict.details["rule"] == "all-required-pass"
    assert verdict.details["traits"]["t2"]["reason"] == "deliberate test failure"


def test_the_readiness_result_is_cached(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"})
    evaluate(harness.deps(), "orders")
    cached = harness.store.get_readiness("orders")
    assert cached is not None and cached.status is ReadinessStatus.READY and cached.schedule_id == "daily"


def test_alerts_fire_once_per_pipeline_schedule_and_period(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "fail"})
    clock = FrozenClock(datetime(2026, 3, 1, 10, tzinfo=UTC))
    deps = harness.deps(clock)
    for _ in range(3):
        evaluate(deps, "orders")
    lines = harness.alerts_out.getvalue().splitlines()
    assert lines == ["[WARN] [orders] Trait t1 failed for orders: deliberate test failure",
                     "[WARN] [orders] Pipeline orders blocked by: t1"]
    clock.advance(timedelta(days=1))  # the next period alerts again
    evaluate(deps, "orders")
    assert len(harness.alerts_out.getvalue().splitlines()) == 4
    assert len(harness.store.list_alerts("orders")) == 4


def test_the_period_is_the_date_in_the_schedule_time_zone(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"},
                     extra="schedules:\n  - {name: tokyo, timezone: Asia/Tokyo}\n")
    clock = FrozenClock(datetime(2026, 3, 1, 20, tzinfo=UTC))  # already March 2nd in Tokyo
    evaluation = evaluate(harness.deps(clock), "orders")
    assert (evaluation.schedule, evaluation.period) == ("tokyo", "2026-03-02")


def test_twenty_slow_traits_run_at_the_same_time(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stamps = tmp_path / "stamps"
    monkeypatch.setenv("STAMP_FILE", str(stamps))
    traits = [f"t{i}" for i in range(20)]
    harness.archetype("wide", traits)
    harness.pipeline("wide-pipe", "wide", dict.fromkeys(traits, "stamped-sleep"))
    assert evaluate(harness.deps(), "wide-pipe").ready
    spans = [tuple(map(float, line.split()[1:])) for line in stamps.read_text().splitlines()]
    assert len(spans) == 20
    # Every evaluation started before any finished: they all overlapped.
    assert max(start for start, _ in spans) < min(end for _, end in spans)


def test_unknown_pipeline_is_bad_input(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    with pytest.raises(UnknownPipeline, match="unknown pipeline 'ghost'"):
        evaluate(harness.deps(), "ghost")


@pytest.mark.parametrize(("trait", "status", "ttl", "message"), [
    ("nope", "PASS", None, "has no trait 'nope'"),
    ("marker", "ERROR", None, "status must be PASS or FAIL"),
    ("marker", "maybe", None, "status must be PASS or FAIL"),
    ("marker", "PASS", -1, "ttl must be a whole number of seconds from 1 to"),
])
def test_a_bad_push_stores_nothing(harness: Harness, trait: str, status: str, ttl: int | None, message: str) -> None:
    harness.archetype("a", ["marker"])
    harness.pipeline("orders", "a", {})
    deps = harness.deps()
    with pytest.raises(BadPush, match=message):
        push_trait(deps, "orders", trait, status, ttl=ttl)
    assert harness.store.get_traits("orders", TraitSource.PUSH) == []
    assert EventKind.TRAIT_PUSHED not in kinds(harness, "orders")


def test_a_push_is_recorded_as_an_event(harness: Harness) -> None:
    harness.archetype("a", ["marker"])
    harness.pipeline("orders", "a", {})
    push_trait(harness.deps(), "orders", "marker", "FAIL", reason="late file")
    (record,) = harness.store.list_events("orders")
    assert (record.event.kind, record.event.status, record.event.message) == (
        EventKind.TRAIT_PUSHED, "FAIL", "late file")
