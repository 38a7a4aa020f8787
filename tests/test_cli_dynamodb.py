"""`provider: dynamodb`: the CLI works on the DynamoDB table (a moto server here) as on Redis.

This is how a pushed marker reaches the AWS deployment from a laptop or a job: the same
interlock.yaml, `interlock push`, and the stream router starts the execution.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from interlock.config import load_project
from interlock.scaffold import init_project
from interlock.steps.keys import advance_key
from interlock.store.base import TraitSource
from interlock.store.dynamodb import DynamoStore
from interlock.store.factory import open_store
from tests.conformance.backends import AWS_CREDENTIALS, AWS_REGION, moto_endpoint
from tests.test_cli_project import interlock

AWS_ENV = {"AWS_ACCESS_KEY_ID": AWS_CREDENTIALS["aws_access_key_id"],
           "AWS_SECRET_ACCESS_KEY": AWS_CREDENTIALS["aws_secret_access_key"], "AWS_DEFAULT_REGION": AWS_REGION}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    root = tmp_path / "etl"
    init_project(root)
    table = f"interlock-cli-{uuid.uuid4().hex[:10]}"
    config = root / "interlock.yaml"
    text = config.read_text().replace("provider: redis", "provider: dynamodb")
    config.write_text(text + f"dynamodb:\n  tableName: {table}\n  region: {AWS_REGION}\n"
                             f"  endpoint: {moto_endpoint()}\n  createTable: true\n")
    return root


def test_push_and_evaluate_go_to_the_dynamodb_table(project: Path) -> None:
    pushed = interlock("push", "example", "upstream-dependency", "--status", "PASS", "--json", cwd=project, env=AWS_ENV)
    assert pushed.returncode == 0, pushed.stderr
    evaluated = interlock("evaluate", "example", "--json", cwd=project, env=AWS_ENV)
    assert evaluated.returncode in (0, 1), evaluated.stderr
    assert json.loads(evaluated.stdout)["pipelineId"] == "example"

    store = open_store(load_project(project / "interlock.yaml", env={}))
    assert isinstance(store, DynamoStore)
    assert [p.name for p in store.list_pipelines()] == ["example"]  # registered by the CLI, in the table
    trait = store.get_trait("example", "upstream-dependency", TraitSource.PUSH)
    assert trait is not None and trait.status.value == "PASS"
    kinds = {r.event.kind.value for r in store.list_events("example", 50)}
    assert {"TRAIT_PUSHED", "READINESS_CHECKED"} <= kinds


def test_an_unreachable_table_is_one_clear_line_and_exit_1(project: Path) -> None:
    config = project / "interlock.yaml"
    config.write_text(config.read_text().replace(moto_endpoint(), "http://127.0.0.1:9"))
    result = interlock("status", cwd=project, env=AWS_ENV)
    assert result.returncode == 1
    assert "DynamoDB refused or could not be reached" in result.stderr
    assert "Traceback" not in result.stderr


def test_push_needs_no_redis_the_stream_router_is_the_fast_path(project: Path) -> None:
    config = project / "interlock.yaml"
    config.write_text(config.read_text().replace("localhost:6379", "127.0.0.1:9"))  # no broker to reach
    pushed = interlock("push", "example", "upstream-dependency", "--status", "PASS", cwd=project, env=AWS_ENV)
    assert pushed.returncode == 0, pushed.stderr
    assert "Traceback" not in pushed.stderr
    store = open_store(load_project(config, env={}))
    assert store.due_at(advance_key("example", "daily")) is not None  # the watchdog's durable copy
