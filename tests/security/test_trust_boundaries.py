"""Where trust ends, pinned so docs/security.md states facts.

* Redis is a trust boundary: the store is the workers' source of truth, so a pipeline written
  straight into Redis (no API checks on that path) runs its command trigger on the trigger worker.
  Whoever can write to Redis can run commands as the worker user.
* The Celery side accepts JSON messages only, so a message forged on the broker is data for a task,
  never a pickled object that runs code when it is read.
* An evaluator gets a small environment: ``${INTERLOCK_*}`` secrets are not in it unless
  ``engine.evaluatorEnv`` names them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlock.evaluators.base import EvaluationRequest
from interlock.evaluators.subprocess import SubprocessEvaluator
from interlock.model import PipelineConfig, RunStatus
from interlock.steps.runs import trigger
from tests.steps.conftest import Harness
from workers.config import celery_config

pytestmark = pytest.mark.integration


def test_a_pipeline_written_straight_into_redis_runs_its_command(harness: Harness, tmp_path: Path) -> None:
    harness.archetype("checked", ["t1"])
    harness.pipeline("orders", "checked", {"t1": "pass"})
    deps = harness.deps()
    marker = tmp_path / "ran-from-redis"
    harness.store.register_pipeline(PipelineConfig.model_validate({
        "name": "planted", "archetype": "checked",
        "trigger": {"type": "command", "command": {"command": f"touch {marker}"}}}))
    run = trigger(deps, "planted", "daily", "2026-03-01", 1)
    assert run.status is RunStatus.COMPLETED and marker.exists()


def test_celery_accepts_json_messages_only(harness: Harness) -> None:
    harness.archetype("checked", ["t1"])
    config = celery_config(harness.deps().project)
    assert config["accept_content"] == ["json"]
    assert (config["task_serializer"], config["result_serializer"]) == ("json", "json")


def test_an_evaluator_does_not_see_interlock_secrets_unless_allowed(tmp_path: Path) -> None:
    script = tmp_path / "env-dump"
    script.write_text("#!/bin/sh\nprintf '{\"status\": \"PASS\", \"value\": {\"env\": \"%s\"}}' "
                      "\"$(env | tr '\\n' ' ' | tr -d '\"\\\\')\"\n")
    script.chmod(0o755)
    environ = {"PATH": "/usr/bin:/bin", "INTERLOCK_API_TOKEN": "tok-secret", "AWS_SECRET_ACCESS_KEY": "aws-secret"}
    seen = SubprocessEvaluator(str(script), tmp_path, environ=environ).evaluate(
        EvaluationRequest("orders", "t1"), 5)
    assert seen.value is not None
    assert "tok-secret" not in json.dumps(seen.value) and "aws-secret" not in json.dumps(seen.value)
    allowed = SubprocessEvaluator(str(script), tmp_path, extra_env=("INTERLOCK_API_TOKEN",), environ=environ).evaluate(
        EvaluationRequest("orders", "t1"), 5)
    assert allowed.value is not None and "INTERLOCK_API_TOKEN=tok-secret" in allowed.value["env"]
