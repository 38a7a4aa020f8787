"""Scale: one reconcile pass with 1 000 and 10 000 registered pipelines of which 1 % are due.

Reconcile reads only the due entries of a sorted set, so its cost should follow the due work,
not the number of idle pipelines. Baseline in the same run: a bare ZRANGEBYSCORE of the same due
set (the floor of "reading what is due").

Then the same with the step each due item asks for: 10 000 registered pipelines, daily ones and
hourly (``cron: "0 * * * *"``) ones in the same run, 1 % due, each due pipeline's period already
done, so the pass plus the ``advance`` of every due item measures what a period costs (compute
the current period, read the seen marker and the run log, leave the next due time) for each
kind. The goal is an hourly per-due-item cost within 1.2x of the daily one.

    python -m bench.reconcile_scale
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import redis

from bench.common import write_result
from interlock.config import load_project
from interlock.model import PipelineConfig, RunLogEntry, RunStatus
from interlock.periods import period_at
from interlock.steps.advance import Outcome, advance
from interlock.steps.deps import build_deps
from interlock.steps.dispatch import RecordingDispatcher
from interlock.steps.keys import advance_key, seen_key
from interlock.steps.reconcile import reconcile
from interlock.store.redis import RedisStore

REPEATS = 20


def project_in(folder: Path) -> Path:
    for sub in ("archetypes", "pipelines"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "interlock.yaml").write_text(
        "provider: redis\nredis: {addr: '127.0.0.1:6379'}\n"
        "archetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\n")
    return folder / "interlock.yaml"


def measure(total: int) -> dict[str, float]:
    store = RedisStore(redis.Redis(decode_responses=True), f"interlock-bench-{uuid.uuid4().hex[:8]}:")
    deps = build_deps(load_project(project_in(Path(tempfile.mkdtemp())), env={}), store=store)
    try:
        now = deps.clock.now()
        due_count = total // 100
        with store.r.pipeline(transaction=False) as p:
            for i in range(total):
                at = now - timedelta(seconds=1) if i < due_count else now + timedelta(hours=1)
                p.zadd(store.k("due"), {advance_key(f"p{i}", "daily"): int(at.timestamp() * 1000)})
            p.execute()
        passes, floors = [], []
        for _ in range(REPEATS):
            recorder = RecordingDispatcher()
            deps.dispatch = recorder
            # put the due items back (the previous pass leased them an hour... a minute ahead)
            with store.r.pipeline(transaction=False) as p:
                for i in range(due_count):
                    p.zadd(store.k("due"), {advance_key(f"p{i}", "daily"): int((now - timedelta(seconds=1))
                                                                             .timestamp() * 1000)})
                p.execute()
            start = time.perf_counter()
            dispatched = reconcile(deps)
            passes.append(time.perf_counter() - start)
            assert dispatched == due_count == len(recorder.sent)
            start = time.perf_counter()
            store.r.zrangebyscore(store.k("due"), "-inf", int(now.timestamp() * 1000), withscores=True)
            floors.append(time.perf_counter() - start)
        per_item = statistics.median(passes) / due_count * 1e6
        return {"pipelines": total, "due": due_count, "pass_ms_p50": round(statistics.median(passes) * 1000, 2),
                "us_per_due_item": round(per_item, 1),
                "baseline_zrangebyscore_ms_p50": round(statistics.median(floors) * 1000, 3)}
    finally:
        store.purge()


# Schedules of the two kinds compared by measure_steps (name -> the schedule's YAML mapping).
KINDS: dict[str, dict[str, str]] = {
    "daily": {"name": "daily", "timezone": "Europe/London"},
    "hourly": {"name": "hourly", "cron": "0 * * * *", "timezone": "Europe/London"},
}


def measure_steps(total: int, kind: str) -> dict[str, float | str]:
    """A reconcile pass and the advance of each due item, for ``total`` pipelines of one schedule kind."""
    folder = Path(tempfile.mkdtemp())
    config_path = project_in(folder)
    (folder / "archetypes" / "a.yaml").write_text(
        "name: a\nrequiredTraits:\n  - {type: marker}\nreadinessRule: {type: all-required-pass}\n")
    store = RedisStore(redis.Redis(decode_responses=True), f"interlock-bench-{uuid.uuid4().hex[:8]}:")
    deps = build_deps(load_project(config_path, env={}), store=store)
    schedule = KINDS[kind]
    try:
        now = deps.clock.now()
        due_count = total // 100
        for i in range(total):
            store.register_pipeline(PipelineConfig.model_validate({
                "name": f"p{i}", "archetype": "a", "schedules": [schedule],
                "trigger": {"type": "command", "command": {"command": "true"}}}))
        config = store.get_pipeline("p0")
        sched = config.schedule_list()[0]
        period = period_at(config, sched, now)
        for i in range(due_count):
            store.put_value(seen_key(f"p{i}", sched.name), period.key)
            store.put_run_log(RunLogEntry(pipeline_id=f"p{i}", date=period.key, schedule_id=sched.name,
                                          status=RunStatus.COMPLETED, attempt_number=1,
                                          run_id=f"p{i}-{sched.name}-{period.key}-1", started_at=now, updated_at=now))
        with store.r.pipeline(transaction=False) as p:
            for i in range(total):
                at = now - timedelta(seconds=1) if i < due_count else now + timedelta(hours=1)
                p.zadd(store.k("due"), {advance_key(f"p{i}", sched.name): int(at.timestamp() * 1000)})
            p.execute()
        passes = []
        for _ in range(REPEATS // 4):
            with store.r.pipeline(transaction=False) as p:
                for i in range(due_count):
                    p.zadd(store.k("due"), {advance_key(f"p{i}", sched.name): int((now - timedelta(seconds=1))
                                                                                .timestamp() * 1000)})
                p.execute()
            recorder = RecordingDispatcher()
            deps.dispatch = recorder
            start = time.perf_counter()
            reconcile(deps)
            outcomes = {advance(deps, **kwargs) for _, kwargs in recorder.sent}
            passes.append(time.perf_counter() - start)
            assert outcomes == {Outcome.DONE} and len(recorder.sent) == due_count, outcomes
        per_item = statistics.median(passes) / due_count * 1e6
        return {"kind": kind, "pipelines": total, "due": due_count,
                "pass_and_steps_ms_p50": round(statistics.median(passes) * 1000, 1),
                "us_per_due_item": round(per_item, 1)}
    finally:
        store.purge()


def main() -> None:
    rows = [measure(1_000), measure(10_000)]
    print(f"{'pipelines':>10}{'due':>6}{'pass ms':>10}{'us/due item':>13}{'zrange ms':>11}")
    for r in rows:
        print(f"{r['pipelines']:>10}{r['due']:>6}{r['pass_ms_p50']:>10}{r['us_per_due_item']:>13}"
              f"{r['baseline_zrangebyscore_ms_p50']:>11}")
    growth = rows[1]["us_per_due_item"] / rows[0]["us_per_due_item"]
    # A pass has a fixed part (take the lock, read the due range, lease, release: four round trips)
    # that a small pass spreads over few items; what each further due item adds is the slope.
    marginal = (rows[1]["pass_ms_p50"] - rows[0]["pass_ms_p50"]) * 1000 / (rows[1]["due"] - rows[0]["due"])
    print(f"per-item cost at 10x the pipelines: {growth:.2f}x; each further due item adds {marginal:.1f} us")
    kinds = [measure_steps(10_000, "daily"), measure_steps(10_000, "hourly")]
    print(f"{'kind':>10}{'pipelines':>10}{'due':>6}{'pass+advance ms':>17}{'us/due item':>13}")
    for k in kinds:
        print(f"{k['kind']:>10}{k['pipelines']:>10}{k['due']:>6}{k['pass_and_steps_ms_p50']:>17}"
              f"{k['us_per_due_item']:>13}")
    ratio = float(kinds[1]["us_per_due_item"]) / float(kinds[0]["us_per_due_item"])
    print(f"hourly per-due-item cost: {ratio:.2f}x the daily one (goal: within 1.2x)")
    figures = {"rows": rows, "per_item_growth_10x": round(growth, 2), "marginal_us_per_due_item": round(marginal, 1),
               "kinds": kinds, "hourly_over_daily": round(ratio, 2)}
    print(f"written to {write_result('reconcile_scale', figures)}")


if __name__ == "__main__":
    main()
