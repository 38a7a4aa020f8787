"""The store-backed circuit breaker on the real Redis.

Through :class:`EvaluatorRunner` on a small project of executable evaluators, and directly through
``store.breaker``. Ours differs from the reference on purpose (module docstring of
``interlock.evaluators.runner``): the breaker is keyed by evaluator *and* pipeline, only ERROR with
TRANSIENT / TIMEOUT / EVALUATOR_CRASH counts (a plain FAIL or a PERMANENT error never does), the
state lives in Redis so every worker shares it, and half-open lets exactly one probe through.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from interlock.clock import FrozenClock
from interlock.config import Project, load_project
from interlock.evaluators.base import EvaluationRequest, EvaluatorOutput
from interlock.evaluators.runner import EvaluatorRunner
from interlock.model import EventKind, FailureCategory, TraitStatus
from interlock.store.base import BreakerOp, BreakerPolicy
from interlock.store.redis import RedisStore

pytestmark = pytest.mark.integration

POLICY = BreakerPolicy(threshold=3, window=60, cooldown=30)
T0 = datetime(2026, 2, 23, 9, 0, tzinfo=UTC)

CONFIG = """\
provider: redis
redis:
  addr: "127.0.0.1:6379"
archetypeDirs: [./archetypes]
pipelineDirs: [./pipelines]
evaluatorDirs: [./evaluators]
"""

ARCHETYPE = """\
name: checked
requiredTraits:
  - type: freshness
    defaultTtl: 60
    defaultTimeout: 5
readinessRule:
  type: all-required-pass
"""

PIPELINE = """\
name: {name}
archetype: checked
traits:
  freshness:
    evaluator: broken
trigger:
  type: command
  command: "true"
"""

# Every evaluator first logs "<name> <request JSON>" to calls.log in the project folder (its working
# directory), so a test can tell exactly which evaluator ran for which pipeline.
LOG_CALL = 'request=$(cat)\nprintf "%s %s\\n" "$(basename "$0")" "$request" >> calls.log\n'
EVALUATORS = {
    "broken": "echo 'warehouse unreachable' >&2\nexit 1",                          # ERROR/TRANSIENT
    "not-ready": """echo '{"status":"FAIL","reason":"no data yet"}'""",            # FAIL
    "misconfigured": "echo 'bad config' >&2\nexit 2",                               # ERROR/PERMANENT
    "crashing": "exit 137",                                                         # ERROR/EVALUATOR_CRASH
    "hanging": "sleep 5",                                                           # ERROR/TIMEOUT
    "healthy": """echo '{"status":"PASS"}'""",
    # Driven by a file named "mode" in the project folder: pass, fail, permanent (exit 2), or (absent) exit 1.
    "switchable": """case "$(cat mode 2>/dev/null)" in
  pass) echo '{"status":"PASS"}' ;;
  fail) echo '{"status":"FAIL","reason":"no data yet"}' ;;
  permanent) echo 'bad config' >&2; exit 2 ;;
  *) echo 'warehouse unreachable' >&2; exit 1 ;;
esac""",
}


def write_project(root: Path) -> Path:
    (root / "archetypes").mkdir(parents=True)
    (root / "pipelines").mkdir()
    (root / "evaluators").mkdir()
    (root / "interlock.yaml").write_text(CONFIG)
    (root / "archetypes" / "checked.yaml").write_text(ARCHETYPE)
    for name in ("orders", "refunds"):
        (root / "pipelines" / f"{name}.yaml").write_text(PIPELINE.format(name=name))
    for name, body in EVALUATORS.items():
        script = root / "evaluators" / name
        script.write_text(f"#!/bin/bash\n{LOG_CALL}{body}\n")
        script.chmod(0o755)
    return root / "interlock.yaml"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return load_project(write_project(tmp_path / "project"), env={})


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def runner(project: Project, store: RedisStore, clock: FrozenClock) -> EvaluatorRunner:
    return EvaluatorRunner(project, store, clock, breaker=POLICY, environ={"PATH": os.environ["PATH"]})


@pytest.fixture
def second_store(store: RedisStore) -> Iterator[RedisStore]:
    """Another RedisStore, on its own connection, over the same key prefix (another worker)."""
    other = RedisStore(redis.Redis(host="127.0.0.1", port=6379, decode_responses=True), store.prefix)
    yield other
    other.close()


def set_mode(project: Project, mode: str | None) -> None:
    """Make the ``switchable`` evaluator pass, fail, exit 2 ("permanent"), or (None) exit 1."""
    path = project.root / "mode"
    if mode is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(mode)


def run(runner: EvaluatorRunner, evaluator: str, pipeline: str = "orders", timeout: float = 5.0) -> EvaluatorOutput:
    return runner.run(evaluator, EvaluationRequest(pipeline, "freshness", {}), timeout)


def calls(project: Project, evaluator: str, pipeline: str | None = None) -> int:
    """How many times ``evaluator`` actually ran (for ``pipeline``, if given)."""
    log = project.root / "calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    count = 0
    for line in lines:
        name, _, request = line.partition(" ")
        if name == evaluator and (pipeline is None or json.loads(request)["pipelineId"] == pipeline):
            count += 1
    return count


def is_refused(out: EvaluatorOutput, evaluator: str) -> bool:
    return (out.status is TraitStatus.ERROR and out.failure_category is FailureCategory.TRANSIENT
            and (out.reason or "").startswith(f"circuit breaker open for {evaluator}"))


def tripped_events(store: RedisStore, pipeline: str) -> list[dict[str, object]]:
    return [r.event.to_json() for r in store.list_events(pipeline)
            if r.event.kind is EventKind.CIRCUIT_BREAKER_TRIPPED]


def open_breaker(runner: EvaluatorRunner, evaluator: str = "broken", pipeline: str = "orders") -> None:
    for _ in range(POLICY.threshold):
        out = run(runner, evaluator, pipeline)
        assert out.status is TraitStatus.ERROR and not is_refused(out, evaluator), out


# -- through the runner ---------------------------------------------------------------------------


def test_consecutive_transient_errors_open_the_breaker_and_the_next_run_does_not_start_the_script(
    runner: EvaluatorRunner, project: Project
) -> None:
    outputs = [run(runner, "broken") for _ in range(POLICY.threshold)]
    assert all((o.status, o.failure_category) == (TraitStatus.ERROR, FailureCategory.TRANSIENT) for o in outputs)
    assert all((o.reason or "").startswith("EVALUATOR_ERROR: exit status 1") for o in outputs)
    assert calls(project, "broken") == 3
    refused = run(runner, "broken")
    assert is_refused(refused, "broken"), refused
    assert calls(project, "broken") == 3


def test_fewer_errors_than_the_threshold_keep_running_the_script(runner: EvaluatorRunner, project: Project) -> None:
    for _ in range(POLICY.threshold - 1):
        run(runner, "broken")
    assert not is_refused(run(runner, "broken"), "broken")
    assert calls(project, "broken") == 3


@pytest.mark.parametrize(("evaluator", "category", "timeout"), [
    ("crashing", FailureCategory.EVALUATOR_CRASH, 5.0),
    ("hanging", FailureCategory.TIMEOUT, 0.2),
])
def test_crashes_and_timeouts_count_against_the_breaker(
    runner: EvaluatorRunner, project: Project, evaluator: str, category: FailureCategory, timeout: float
) -> None:
    for _ in range(POLICY.threshold):
        out = run(runner, evaluator, timeout=timeout)
        assert (out.status, out.failure_category) == (TraitStatus.ERROR, category)
    assert is_refused(run(runner, evaluator, timeout=timeout), evaluator)
    assert calls(project, evaluator) == 3


def test_plain_fail_outputs_never_open_the_breaker(runner: EvaluatorRunner, project: Project) -> None:
    outputs = [run(runner, "not-ready") for _ in range(3 * POLICY.threshold)]
    assert all(o == EvaluatorOutput(TraitStatus.FAIL, None, "no data yet", None) for o in outputs)
    assert calls(project, "not-ready") == 9


def test_permanent_errors_never_open_the_breaker(runner: EvaluatorRunner, project: Project) -> None:
    outputs = [run(runner, "misconfigured") for _ in range(3 * POLICY.threshold)]
    assert all((o.status, o.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT) for o in outputs)
    assert calls(project, "misconfigured") == 9


@pytest.mark.parametrize("mode", ["pass", "fail"])
def test_a_pass_or_fail_between_errors_resets_the_consecutive_count(
    runner: EvaluatorRunner, project: Project, mode: str
) -> None:
    # Both mean the check itself ran fine; only evaluator breakage is counted.
    for step in (None, None, mode, None, None):
        set_mode(project, step)
        run(runner, "switchable")
    assert not is_refused(run(runner, "switchable"), "switchable")
    assert calls(project, "switchable") == 6


def test_opening_appends_one_circuit_breaker_tripped_event(runner: EvaluatorRunner, store: RedisStore) -> None:
    for _ in range(POLICY.threshold - 1):
        run(runner, "broken")
    assert tripped_events(store, "orders") == []
    run(runner, "broken")
    run(runner, "broken")  # refused: no second event
    (event,) = tripped_events(store, "orders")
    assert event["status"] == "OPEN"
    assert event["pipelineId"] == "orders"
    assert event["timestamp"] == T0.isoformat().replace("+00:00", "Z")
    assert event["details"] == {"evaluator": "broken", "threshold": 3, "cooldownSeconds": 30}
    assert str(event["message"]).startswith("circuit breaker opened for broken: EVALUATOR_ERROR: exit status 1")


def test_breaker_is_per_pipeline(runner: EvaluatorRunner, project: Project, store: RedisStore) -> None:
    open_breaker(runner, "broken", "orders")
    assert is_refused(run(runner, "broken", "orders"), "broken")
    other = run(runner, "broken", "refunds")
    assert (other.reason or "").startswith("EVALUATOR_ERROR: exit status 1")
    assert calls(project, "broken", "refunds") == 1
    assert tripped_events(store, "refunds") == []


def test_breaker_is_per_evaluator(runner: EvaluatorRunner, project: Project) -> None:
    open_breaker(runner, "broken", "orders")
    assert run(runner, "healthy", "orders").status is TraitStatus.PASS
    assert calls(project, "healthy", "orders") == 1


def test_runners_on_separate_connections_share_the_breaker(
    project: Project, store: RedisStore, second_store: RedisStore, clock: FrozenClock
) -> None:
    env = {"PATH": os.environ["PATH"]}
    worker_a = EvaluatorRunner(project, store, clock, breaker=POLICY, environ=env)
    worker_b = EvaluatorRunner(project, second_store, clock, breaker=POLICY, environ=env)
    for worker in (worker_a, worker_b, worker_a):
        assert not is_refused(run(worker, "broken"), "broken")
    assert is_refused(run(worker_b, "broken"), "broken")
    assert is_refused(run(worker_a, "broken"), "broken")
    assert calls(project, "broken") == 3


def test_breaker_stays_open_until_the_cooldown_has_passed(
    runner: EvaluatorRunner, project: Project, clock: FrozenClock
) -> None:
    open_breaker(runner, "switchable")
    set_mode(project, "pass")
    clock.advance(timedelta(seconds=29))
    assert is_refused(run(runner, "switchable"), "switchable")
    assert calls(project, "switchable") == 3


def test_successful_probe_after_the_cooldown_closes_the_breaker(
    runner: EvaluatorRunner, project: Project, clock: FrozenClock, store: RedisStore
) -> None:
    open_breaker(runner, "switchable")
    set_mode(project, "pass")
    clock.advance(timedelta(seconds=30))
    assert run(runner, "switchable").status is TraitStatus.PASS  # the probe
    assert run(runner, "switchable").status is TraitStatus.PASS  # closed: runs normally again
    assert calls(project, "switchable") == 5
    assert len(tripped_events(store, "orders")) == 1


def test_failed_probe_reopens_the_breaker_for_another_cooldown(
    runner: EvaluatorRunner, project: Project, clock: FrozenClock, store: RedisStore
) -> None:
    open_breaker(runner, "broken")
    clock.advance(timedelta(seconds=30))
    probe = run(runner, "broken")
    assert (probe.reason or "").startswith("EVALUATOR_ERROR: exit status 1")  # it ran
    assert is_refused(run(runner, "broken"), "broken")
    clock.advance(timedelta(seconds=29))
    assert is_refused(run(runner, "broken"), "broken")
    assert calls(project, "broken") == 4
    assert len(tripped_events(store, "orders")) == 2


def test_probe_ending_in_a_permanent_error_does_not_keep_the_breaker_refusing(
    runner: EvaluatorRunner, project: Project, clock: FrozenClock
) -> None:
    open_breaker(runner, "switchable")
    set_mode(project, "permanent")
    clock.advance(timedelta(seconds=30))
    probe = run(runner, "switchable")
    assert (probe.status, probe.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    clock.advance(timedelta(seconds=1))
    after = run(runner, "switchable")
    assert not is_refused(after, "switchable"), after
    assert calls(project, "switchable") == 5


def test_http_evaluators_share_a_breaker_per_host_and_pipeline(runner: EvaluatorRunner) -> None:
    # A bound socket that never listens: every request is refused (ERROR/TRANSIENT), nothing is served.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{closed.getsockname()[1]}"
        for _ in range(POLICY.threshold):
            out = run(runner, f"{base}/freshness")
            assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.TRANSIENT)
        assert is_refused(run(runner, f"{base}/volume"), f"{base}/volume")
        other = run(runner, f"{base}/freshness", pipeline="refunds")
        assert (other.reason or "").startswith("EVALUATOR_HTTP_ERROR: request failed")


# -- store.breaker directly -----------------------------------------------------------------------


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def allow(store: RedisStore, seconds: float, key: str = "command:/x:orders") -> tuple[bool, str]:
    return store.breaker(key, BreakerOp.ALLOW, at(seconds), POLICY)


def fail(store: RedisStore, seconds: float, key: str = "command:/x:orders") -> tuple[bool, str]:
    return store.breaker(key, BreakerOp.FAILURE, at(seconds), POLICY)


def succeed(store: RedisStore, seconds: float, key: str = "command:/x:orders") -> tuple[bool, str]:
    return store.breaker(key, BreakerOp.SUCCESS, at(seconds), POLICY)


def trip(store: RedisStore, seconds: float = 0, key: str = "command:/x:orders") -> None:
    states = [fail(store, seconds, key)[1] for _ in range(POLICY.threshold)]
    assert states == ["CLOSED", "CLOSED", "OPEN"]


def test_unknown_breaker_is_closed_and_allows(store: RedisStore) -> None:
    assert allow(store, 0) == (True, "CLOSED")


def test_threshold_failures_open_the_breaker(store: RedisStore) -> None:
    assert [fail(store, s)[1] for s in (0, 10, 20)] == ["CLOSED", "CLOSED", "OPEN"]
    assert allow(store, 21) == (False, "OPEN")


def test_success_resets_the_failure_count(store: RedisStore) -> None:
    fail(store, 0)
    fail(store, 1)
    assert succeed(store, 2) == (True, "CLOSED")
    assert [fail(store, s)[1] for s in (3, 4)] == ["CLOSED", "CLOSED"]
    assert allow(store, 5) == (True, "CLOSED")


def test_failures_older_than_the_window_reset_the_count(store: RedisStore) -> None:
    fail(store, 0)
    fail(store, 10)
    assert fail(store, 10 + 61) == (False, "CLOSED")  # counted afresh: 1
    assert fail(store, 80) == (False, "CLOSED")       # 2
    assert fail(store, 90) == (True, "OPEN")         # 3 within the window


def test_after_the_cooldown_exactly_one_probe_is_allowed(store: RedisStore, second_store: RedisStore) -> None:
    trip(store, 0)
    assert allow(store, 29.999) == (False, "OPEN")
    assert allow(store, 30) == (True, "HALF_OPEN")
    assert allow(store, 30) == (False, "HALF_OPEN")
    assert allow(second_store, 31) == (False, "HALF_OPEN")  # another worker too
    assert allow(store, 59) == (False, "HALF_OPEN")


def test_successful_probe_closes_the_breaker(store: RedisStore) -> None:
    trip(store, 0)
    assert allow(store, 30)[0]
    assert succeed(store, 31) == (True, "CLOSED")
    assert allow(store, 31) == (True, "CLOSED")
    assert allow(store, 31) == (True, "CLOSED")
    assert fail(store, 32) == (False, "CLOSED")  # the count started again from zero


def test_failed_probe_reopens_the_breaker_for_a_full_cooldown(store: RedisStore) -> None:
    trip(store, 0)
    assert allow(store, 30)[0]
    assert fail(store, 35) == (True, "OPEN")
    assert allow(store, 36) == (False, "OPEN")
    assert allow(store, 64) == (False, "OPEN")
    assert allow(store, 65) == (True, "HALF_OPEN")


def test_failed_probe_reopens_even_after_the_failure_window(store: RedisStore) -> None:
    # The reference reset the count here and stayed HALF_OPEN.
    trip(store, 0)
    assert allow(store, 100)[0]
    assert fail(store, 100) == (True, "OPEN")
    assert allow(store, 101) == (False, "OPEN")


def test_a_late_failure_while_open_neither_trips_again_nor_restarts_the_cooldown(store: RedisStore) -> None:
    trip(store, 0)
    assert fail(store, 20) == (False, "OPEN")  # a call that started before the breaker opened
    assert allow(store, 30) == (True, "HALF_OPEN")  # cooldown still counted from the trip at 0


def test_a_probe_that_never_reports_is_replaced_after_another_cooldown(store: RedisStore) -> None:
    trip(store, 0)
    assert allow(store, 30) == (True, "HALF_OPEN")
    assert allow(store, 59) == (False, "HALF_OPEN")
    assert allow(store, 60) == (True, "HALF_OPEN")
    assert allow(store, 60) == (False, "HALF_OPEN")


def test_breaker_keys_are_independent(store: RedisStore) -> None:
    trip(store, 0, key="command:/x:orders")
    assert allow(store, 1, key="command:/x:refunds") == (True, "CLOSED")
    assert allow(store, 1, key="command:/y:orders") == (True, "CLOSED")
    assert allow(store, 1, key="command:/x:orders") == (False, "OPEN")


def test_breaker_state_is_shared_across_connections(store: RedisStore, second_store: RedisStore) -> None:
    fail(store, 0)
    fail(second_store, 1)
    assert fail(store, 2) == (True, "OPEN")
    assert allow(second_store, 3) == (False, "OPEN")


def test_breaker_state_expires_instead_of_lingering_forever(store: RedisStore) -> None:
    fail(store, 0)
    ttl_ms = int(store.r.pttl(store.k("breaker", "command:/x:orders")))
    assert 0 < ttl_ms <= (60 + 86_400) * 1000
