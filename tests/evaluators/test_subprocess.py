"""Executables as evaluators, with breakage reported as ERROR."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from interlock.evaluators.base import EvaluationRequest
from interlock.evaluators.subprocess import SubprocessEvaluator
from interlock.model import FailureCategory, TraitStatus
from tests.conftest import FIXTURES, REFERENCE

REFERENCE_EVALUATORS = REFERENCE / "testdata" / "evaluators"
OUR_EVALUATORS = FIXTURES / "evaluators"
REQUEST = EvaluationRequest("test", "freshness", {"maxLagSeconds": 60})


def run(path: Path, timeout: float = 10, **env: str) -> tuple[TraitStatus, str | None, FailureCategory | None,
                                                          dict[str, object] | None]:
    evaluator = SubprocessEvaluator(str(path), path.parent, extra_env=tuple(env), environ={**os.environ, **env})
    out = evaluator.evaluate(REQUEST, timeout)
    return out.status, out.reason, out.failure_category, out.value


def test_pass_fixture_passes_with_its_value() -> None:
    status, _, category, value = run(REFERENCE_EVALUATORS / "pass")
    assert (status, category, value) == (TraitStatus.PASS, None, {"test": True})


def test_fail_fixture_fails_with_its_reason() -> None:
    status, reason, _, _ = run(REFERENCE_EVALUATORS / "fail")
    assert (status, reason) == (TraitStatus.FAIL, "deliberate test failure")


def test_bad_json_is_an_invalid_output_error() -> None:
    status, reason, category, _ = run(REFERENCE_EVALUATORS / "bad-json")
    assert (status, category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert reason is not None and reason.startswith("EVALUATOR_OUTPUT_INVALID") and "this is not json" in reason


def test_exit_1_is_transient_and_quotes_stderr() -> None:
    status, reason, category, _ = run(REFERENCE_EVALUATORS / "exit-error")
    assert (status, category) == (TraitStatus.ERROR, FailureCategory.TRANSIENT)
    assert reason is not None and reason.startswith("EVALUATOR_ERROR: exit status 1")
    assert "something went wrong" in reason


def test_exit_2_is_permanent() -> None:
    status, _, category, _ = run(REFERENCE_EVALUATORS / "exit-permanent")
    assert (status, category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)


def test_exit_130_is_a_crash() -> None:
    status, _, category, _ = run(REFERENCE_EVALUATORS / "exit-signal")
    assert (status, category) == (TraitStatus.ERROR, FailureCategory.EVALUATOR_CRASH)


def test_death_by_signal_is_a_crash_not_transient() -> None:
    status, reason, category, _ = run(OUR_EVALUATORS / "kill-self")
    assert (status, category) == (TraitStatus.ERROR, FailureCategory.EVALUATOR_CRASH)
    assert reason is not None and "SIGKILL" in reason


def test_slow_evaluator_times_out_and_its_sleeping_child_dies_with_it() -> None:
    status, reason, category, _ = run(REFERENCE_EVALUATORS / "slow", timeout=0.5)
    assert (status, reason, category) == (TraitStatus.ERROR, "EVALUATOR_TIMEOUT", FailureCategory.TIMEOUT)


def test_timeout_kills_the_whole_group_even_processes_that_ignore_sigterm(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    status, reason, _, _ = run(OUR_EVALUATORS / "ignores-sigterm", timeout=1.0, PID_FILE=str(pid_file))
    assert (status, reason) == (TraitStatus.ERROR, "EVALUATOR_TIMEOUT")
    pids = [int(p) for p in pid_file.read_text().split()]
    assert len(pids) == 2  # the evaluator and its child both started
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose (its parent has not reaped it yet).
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (FileNotFoundError, IndexError):
        return False


def test_stdin_carries_the_request_json() -> None:
    status, _, _, value = run(REFERENCE_EVALUATORS / "stdin-echo")
    assert (status, value) == (TraitStatus.PASS, {"receivedPipelineID": "test"})


def test_output_over_the_limit_is_an_error_not_a_memory_blow_up() -> None:
    status, reason, category, _ = run(OUR_EVALUATORS / "huge-output")
    assert (status, category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert reason is not None and "larger than" in reason


def test_unknown_status_is_rejected_as_invalid_output() -> None:
    status, reason, category, _ = run(OUR_EVALUATORS / "lowercase-status")
    assert (status, category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert reason is not None and "status must be PASS, FAIL or ERROR, got 'pass'" in reason


def test_missing_executable_is_permanent(tmp_path: Path) -> None:
    status, reason, category, _ = run(tmp_path / "nope")
    assert (status, category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert reason is not None and "cannot start" in reason


def test_non_executable_file_is_permanent(tmp_path: Path) -> None:
    script = tmp_path / "plain"
    script.write_text("#!/bin/bash\necho '{\"status\":\"PASS\"}'\n")
    status, _, category, _ = run(script)
    assert (status, category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)


def test_evaluator_gets_an_allow_listed_environment_and_the_project_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    monkeypatch.setenv("WANTED", "yes")
    evaluator = SubprocessEvaluator(str(OUR_EVALUATORS / "env-dump"), tmp_path, extra_env=("WANTED",))
    value = evaluator.evaluate(REQUEST, 10).value
    assert value is not None
    env = value["env"]
    assert isinstance(env, list)
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert {"WANTED", "PATH", "INTERLOCK_PROJECT_DIR"} <= set(env)
    assert value["cwd"] == str(tmp_path)
