"""`interlock rerun` refuses a rerun no new data justifies, names why, and `--force` overrides it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from interlock.store.redis import RedisStore
from tests.test_cli_pipelines import prefix, project, project_files  # noqa: F401  (fixtures)
from tests.test_cli_project import interlock

pytestmark = pytest.mark.integration


def test_a_rerun_without_new_data_exits_2_naming_the_last_run_until_forced(
        project: Path, prefix: str) -> None:  # noqa: F811
    ran = interlock("run", "example", "--json", cwd=project)
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["runId"]

    refused = interlock("rerun", "example", "--reason", "again", cwd=project)
    assert refused.returncode == 2
    assert "no new data since the last run" in refused.stderr and run_id in refused.stderr
    assert "the newest trait result is from" in refused.stderr and "--force" in refused.stderr
    assert "Traceback" not in refused.stderr
    store = RedisStore(redis.Redis(host="127.0.0.1", decode_responses=True), prefix)
    assert store.list_reruns("example") == []  # refused: nothing recorded

    forced = interlock("rerun", "example", "--reason", "again", "--force", "--json", cwd=project)
    assert forced.returncode == 0, forced.stderr
    record = json.loads(forced.stdout)
    assert record["metadata"]["forced"] is True and record["originalRunId"] == run_id

    both = interlock("rerun", "--id", record["rerunId"], "--force", cwd=project)
    assert both.returncode == 2 and "--force applies to a new rerun" in both.stderr
