"""A Glue run that AWS calls SUCCEEDED but whose log stream holds the job's error marker fails for good."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import boto3
import pytest

from interlock.clock import FrozenClock
from interlock.model import FailureCategory, RunStatus
from interlock.steps.runs import check_run, trigger
from tests.steps.conftest import Harness

pytestmark = pytest.mark.usefixtures("aws")

GLUE = """\
retry: {maxAttempts: 3, backoffSeconds: 1}
trigger:
  type: glue
  glue: {job_name: load, failOnLogPattern: '^(FATAL|ERROR_MARKER)\\b'}
"""


@pytest.mark.parametrize(("line", "status", "category"), [
    ("ERROR_MARKER 12 rows rejected", RunStatus.FAILED, FailureCategory.PERMANENT),
    ("12 rows loaded", RunStatus.COMPLETED, None),
])
def test_a_glue_success_is_judged_by_its_log_stream(harness: Harness, line: str, status: RunStatus,
                                                     category: FailureCategory | None) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra=GLUE)
    deps = harness.deps(FrozenClock(datetime(2026, 3, 2, 12, tzinfo=UTC)))
    boto3.client("glue").create_job(Name="load", Role="arn:aws:iam::123456789012:role/r",
                                    Command={"Name": "glueetl", "ScriptLocation": "s3://b/x.py"})
    run = trigger(deps, "orders", "daily", "2026-03-02", 1)
    assert run is not None and run.status is RunStatus.RUNNING
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName="/aws-glue/jobs/error")
    stream = str(run.metadata["glue_job_run_id"])
    logs.create_log_stream(logGroupName="/aws-glue/jobs/error", logStreamName=stream)
    logs.put_log_events(logGroupName="/aws-glue/jobs/error", logStreamName=stream,
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": line}])

    finished = check_run(deps, run.run_id)
    assert finished is not None
    entry = deps.store.get_run_log("orders", "2026-03-02", "daily")
    assert entry is not None
    assert (finished.status, entry.failure_category) == (status, category)
    if category is FailureCategory.PERMANENT:  # not retried: the job ran and said it failed
        assert "matches failOnLogPattern: ERROR_MARKER 12 rows rejected" in (entry.failure_message or "")
        assert entry.status is RunStatus.FAILED
