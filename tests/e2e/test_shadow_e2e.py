"""Shadow mode with real worker processes, Beat and Redis: minutely periods in shadow start nothing and
send nothing, record WOULD_TRIGGER once per minute; removing dryRun triggers for real.

A ``*/1`` cron schedule makes a "day" of periods fit in minutes; the steps are the same as for a
daily schedule (tests/steps/test_shadow.py walks a whole daily day with the injected clock).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from interlock.demo.fake_airflow import FakeAirflow
from interlock.model import EventKind
from interlock.store.redis import RedisStore
from tests.e2e.conftest import MARKER_ARCHETYPE, Deployment, fired, wait_for

pytestmark = pytest.mark.integration

SCHEDULE = "schedules:\n  - {name: m, cron: '*/1 * * * *', deadline: '+20s'}\n"


def pipeline(name: str, shadow: bool) -> str:
    return (f"name: {name}\narchetype: marked\n{SCHEDULE}" + ("dryRun: true\n" if shadow else "")
            + "trigger:\n" + fired(name))


@pytest.fixture(scope="module")
def shadowed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root: Path = tmp_path_factory.mktemp("shadow-deployment")
    prefix = f"interlock-test-{uuid.uuid4().hex[:12]}:"
    target = FakeAirflow().start()  # the Deployment helper wants one; the command trigger does not use it
    for folder in ("archetypes", "pipelines"):
        (root / folder).mkdir()
    (root / "interlock.yaml").write_text(f"""\
provider: redis
redis: {{addr: "127.0.0.1:6379", keyPrefix: "{prefix}"}}
archetypeDirs: [./archetypes]
pipelineDirs: [./pipelines]
alerts:
  - {{type: file, path: alerts.jsonl}}
watcher: {{defaultInterval: 1s, reconcileInterval: 500ms}}
""")
    (root / "archetypes" / "marked.yaml").write_text(MARKER_ARCHETYPE)
    (root / "pipelines" / "shade.yaml").write_text(pipeline("shade", shadow=True))
    (root / "pipelines" / "held.yaml").write_text(pipeline("held", shadow=True))  # never pushed: NOT_READY
    store = RedisStore(redis.Redis(host="127.0.0.1", decode_responses=True), prefix)
    deployment = Deployment(root, prefix, store, target)
    check = deployment.cli("validate")
    assert check.returncode == 0, check.stderr
    deployment.start("worker", "--concurrency", "2", name="worker-1")
    deployment.start("beat", name="beat")
    try:
        wait_for(lambda: "ready" in (root / "worker-1.log").read_text(), 60, "the worker to start")
        yield deployment
    finally:
        deployment.stop()
        target.stop()
        store.purge()


def would(deployment: Deployment, name: str) -> list[str]:
    return [str((e.event.details or {})["period"]) for e in deployment.store.list_events(name, 1000)
            if e.event.kind is EventKind.WOULD_TRIGGER]


def test_shadow_minutes_start_nothing_send_nothing_then_going_live_triggers(shadowed: Deployment) -> None:
    shadowed.cli("push", "shade", "ready-marker", "--status", "PASS")
    wait_for(lambda: len(set(would(shadowed, "shade"))) >= 2, 200, "two minutes of WOULD_TRIGGER")
    # The held pipeline's evaluation deadline passes: the breach is stored, marked shadow.
    held = wait_for(lambda: [a for a in shadowed.store.list_alerts("held")
                             if a.alert_type == "evaluation_sla_breach"], 90, "the held pipeline's SLA alert")
    assert all((a.details or {}).get("shadow") is True for a in held)
    periods = would(shadowed, "shade")
    assert max(Counter(periods).values()) == 1, f"a minute recorded WOULD_TRIGGER twice: {periods}"
    assert shadowed.fired("shade") == [] and shadowed.fired("held") == []
    assert shadowed.alerts() == []  # the file sink got nothing
    assert would(shadowed, "held") == []
    report = shadowed.cli("shadow-report", "--json")
    assert report.returncode == 0, report.stderr
    assert {"shade", "held"} <= {row["pipeline"] for row in json.loads(report.stdout)}

    (shadowed.root / "pipelines" / "shade.yaml").write_text(pipeline("shade", shadow=False))
    shadowed.cli("status", "shade")  # any command registers the project's pipelines: now live
    wait_for(lambda: shadowed.fired("shade"), 90, "the live trigger")
    run_ids = shadowed.fired("shade")
    assert len(run_ids) == len(set(run_ids)) and all(r.startswith("shade-m-") for r in run_ids)
