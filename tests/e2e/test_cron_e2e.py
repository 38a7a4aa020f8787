"""A `*/1 * * * *` schedule with real worker processes, Beat and Redis: each minute one run, none twice.

Three minute boundaries (about three and a half minutes of wall time) rather than ten: every
boundary takes the same path (the run of minute M leaves its advance due at M+1, Beat's reconcile
finds it, the gate sees a new period with no run log, the claim admits one trigger), so the
fourth to tenth add duration, not coverage. The ready marker is pushed once and stays valid, so
any second trigger within a minute would show up as a repeated period in what the target saw.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis

from interlock.demo.fake_airflow import FakeAirflow
from interlock.store.redis import RedisStore
from tests.e2e.conftest import MARKER_ARCHETYPE, Deployment, fired, wait_for

pytestmark = pytest.mark.integration

# Minute boundaries to watch after the first run.
BOUNDARIES = 3


@pytest.fixture(scope="module")
def minutely(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root: Path = tmp_path_factory.mktemp("cron-deployment")
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
    (root / "pipelines" / "minutely.yaml").write_text(
        "name: minutely\narchetype: marked\nschedules:\n  - {name: m, cron: '*/1 * * * *', deadline: '+50s'}\n"
        "trigger:\n" + fired("minutely"))
    store = RedisStore(redis.Redis(host="127.0.0.1", decode_responses=True), prefix)
    deployment = Deployment(root, prefix, store, target)
    check = deployment.cli("validate")
    assert check.returncode == 0, check.stderr
    deployment.start("worker", "--concurrency", "2", name="worker-1")
    deployment.start("worker", "--concurrency", "2", name="worker-2")
    deployment.start("beat", name="beat")
    try:
        wait_for(lambda: "ready" in (root / "worker-1.log").read_text()
                 and "ready" in (root / "worker-2.log").read_text(), 60, "workers to start")
        yield deployment
    finally:
        deployment.stop()
        target.stop()
        store.purge()


def test_each_minute_runs_once_and_no_minute_twice(minutely: Deployment) -> None:
    minutely.cli("push", "minutely", "ready-marker", "--status", "PASS")
    wait_for(lambda: len(set(minutely.fired("minutely"))) >= BOUNDARIES + 1, 60 * (BOUNDARIES + 2),
             f"{BOUNDARIES + 1} minutes of runs")
    run_ids = minutely.fired("minutely")
    assert len(run_ids) == len(set(run_ids)), f"a run started twice: {run_ids}"
    prefix = "minutely-m-"
    periods = [run_id[len(prefix):].rsplit("-", 1) for run_id in run_ids]
    assert all(attempt == "1" for _, attempt in periods)
    starts = [datetime.strptime(key, "%Y-%m-%dT%H%M") for key, _ in periods]
    assert len(set(starts)) == len(starts), f"a minute ran twice: {run_ids}"
    assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(starts)), run_ids
    assert not [a for a in minutely.alerts() if a.get("alertType") == "evaluation_sla_breach"]
