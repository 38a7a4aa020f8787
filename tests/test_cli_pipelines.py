"""`interlock evaluate` and `interlock push` (and the bad input of every pipeline command), run as a user runs them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from interlock.scaffold import init_project
from interlock.store.redis import RedisStore
from tests.conftest import with_key_prefix
from tests.test_cli_project import interlock

ARCHETYPE = """\
name: marked
requiredTraits:
  - {type: source-freshness, defaultTtl: 300}
  - {type: ready-marker}
readinessRule: {type: all-required-pass}
"""


@pytest.fixture
def prefix() -> str:
    """The test's own key prefix on the real Redis."""
    return f"interlock-test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def project_files(tmp_path: Path, prefix: str) -> Path:
    """`interlock init` output on a key prefix of its own, plus a pipeline with a pushed trait."""
    root = tmp_path / "etl"
    init_project(root)
    config = root / "interlock.yaml"
    config.write_text(with_key_prefix(config.read_text(), prefix)
                      .replace("localhost:6379", "127.0.0.1:6379"))
    (root / "archetypes" / "marked.yaml").write_text(ARCHETYPE)
    (root / "pipelines" / "orders.yaml").write_text(
        "name: orders\narchetype: marked\ntraits:\n  source-freshness:\n    evaluator: check-source-freshness\n"
        "    config: {path: data/orders.csv, maxLagSeconds: 86400}\n")
    return root


@pytest.fixture
def project(project_files: Path, prefix: str) -> Iterator[Path]:
    """The project, with what its commands wrote to the real Redis removed afterwards."""
    yield project_files
    RedisStore(redis.Redis(host="127.0.0.1", decode_responses=True), prefix).purge()


@pytest.mark.integration
def test_evaluate_the_init_example_is_ready_and_exits_0(project: Path) -> None:
    result = interlock("evaluate", "example", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "READY" in result.stdout
    for trait in ("source-freshness", "upstream-dependency", "resource-availability"):
        assert trait in result.stdout


@pytest.mark.integration
def test_evaluate_json_has_the_documented_shape(project: Path) -> None:
    result = interlock("evaluate", "example", "--json", cwd=project)
    body = json.loads(result.stdout)
    assert {"pipelineId", "status", "traits", "blocking", "evaluatedAt"} <= set(body)
    assert body["status"] == "READY" and body["blocking"] == []
    assert {"traitType", "status", "value"} <= set(body["traits"][0])


@pytest.mark.integration
def test_evaluate_not_ready_exits_1_and_names_the_blocking_trait(project: Path) -> None:
    result = interlock("evaluate", "orders", "--json", cwd=project)
    assert result.returncode == 1
    body = json.loads(result.stdout)
    assert body["status"] == "NOT_READY" and body["blocking"] == ["ready-marker"]
    assert "[WARN] [orders] Pipeline orders blocked by: ready-marker" in result.stderr  # alerts stay off stdout


@pytest.mark.integration
def test_push_then_evaluate_is_ready(project: Path) -> None:
    pushed = interlock("push", "orders", "ready-marker", "--status", "PASS", "--value", '{"rows": 42}',
                       "--reason", "loaded", cwd=project)
    assert pushed.returncode == 0, pushed.stderr
    assert "orders · ready-marker = PASS" in pushed.stdout
    result = interlock("evaluate", "orders", "--json", cwd=project)
    assert result.returncode == 0
    marker = json.loads(result.stdout)["traits"][1]
    assert (marker["status"], marker["source"], marker["value"]) == ("PASS", "push", {"rows": 42})


@pytest.mark.integration
@pytest.mark.parametrize(("args", "message"), [
    (["push", "ghost", "ready-marker", "--status", "PASS"], "unknown pipeline 'ghost'"),
    (["push", "orders", "ready-marker", "--status", "MAYBE"], "status must be PASS or FAIL"),
    (["push", "orders", "ready-marker", "--status", "PASS", "--value", "{oops"], "--value is not valid JSON"),
    (["push", "orders", "ready-marker", "--status", "PASS", "--value", "[1]"], "--value must be a JSON object"),
    (["push", "orders", "nope", "--status", "PASS"], "has no trait 'nope'"),
    (["evaluate", "ghost"], "unknown pipeline 'ghost'"),
    (["evaluate", "orders", "--schedule", "hourly"], "has no schedule 'hourly'"),
    (["run", "orders", "--schedule", "bogus"], "pipeline 'orders' has no schedule 'bogus' (it has: daily)"),
    (["run", "ghost"], "unknown pipeline 'ghost'"),
    (["rerun", "orders", "--reason", "late", "--schedule", "bogus"], "has no schedule 'bogus'"),
    (["rerun", "--id", "rerun-ghost"], "unknown rerun 'rerun-ghost'"),
    (["complete", "ghost-run", "--status", "success"], "unknown run 'ghost-run'"),
    (["status", "ghost"], "unknown pipeline 'ghost'"),
])
def test_bad_input_exits_2_and_stores_nothing(project: Path, args: list[str], message: str) -> None:
    result = interlock(*args, cwd=project)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    check = interlock("evaluate", "orders", "--json", cwd=project)
    assert json.loads(check.stdout)["blocking"] == ["ready-marker"]  # no push landed


def test_evaluate_without_redis_says_it_cannot_reach_it(project_files: Path) -> None:
    result = interlock("evaluate", "example", cwd=project_files, env={"INTERLOCK_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert result.returncode == 1
    assert "cannot reach Redis" in result.stderr


@pytest.mark.integration
def test_status_pages_and_filters_by_state_and_refuses_bad_values(project: Path) -> None:
    listed = interlock("status", "--json", "--state", "waiting,blocked", "--limit", "1", cwd=project)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["pipelineId"], r["state"]) for r in rows] == [("example", "waiting")]
    assert interlock("status", "--json", "--state", "failed", cwd=project).stdout.strip() == "[]"
    for args, reason in ((["--limit", "0"], "limit must be"), (["--state", "broken"], "unknown state 'broken'"),
                         (["--cursor", "nope"], "is not a cursor")):
        bad = interlock("status", *args, cwd=project)
        assert bad.returncode == 2 and reason in bad.stderr, (args, bad.stderr)
