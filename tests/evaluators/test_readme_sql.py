"""The README's builtin:sql example, run as written against the test PostgreSQL.

The archetype and pipeline blocks are taken from the README by their first-line comments
(``# archetypes/partition-gated.yaml``, ``# pipelines/sales-daily.yaml``); only interlock.yaml (a
Redis key prefix of the test's own) and the warehouse table are the test's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from interlock.store.redis import RedisStore
from tests.evaluators.conftest import admin

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]
README = REPO / "README.md"


def readme_block(first_line: str) -> str:
    """The README's yaml code block that starts with ``first_line``."""
    for block in re.findall(r"^```yaml\n(.*?)^```", README.read_text(), re.S | re.M):
        if block.startswith(first_line + "\n"):
            return str(block)
    raise AssertionError(f"README has no yaml block starting with {first_line!r}")


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    prefix = f"interlock-test-{uuid.uuid4().hex[:12]}:"
    root = tmp_path / "etl"
    for name in ("archetypes/partition-gated.yaml", "pipelines/sales-daily.yaml"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(readme_block(f"# {name}"))
    (root / "interlock.yaml").write_text(
        f"provider: redis\nredis: {{addr: '127.0.0.1:6379', keyPrefix: '{prefix}'}}\n"
        "archetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\n")
    yield root
    RedisStore(redis.Redis(host="127.0.0.1", port=6379, decode_responses=True), prefix).purge()


def interlock(root: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
    env["INTERLOCK_WAREHOUSE_URL"] = url
    return subprocess.run([sys.executable, "-m", "interlock.cli", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_readme_sql_pipeline_blocks_until_todays_partition_lands(project: Path, warehouse: str) -> None:
    url = f"postgresql://postgres@127.0.0.1:5432/{warehouse}"
    admin("create table sales (day date, amount numeric, loaded_at timestamptz)", warehouse)
    assert interlock(project, url, "validate", "--strict").returncode == 0

    blocked = interlock(project, url, "evaluate", "sales-daily", "--json")
    assert blocked.returncode == 1, blocked.stderr
    trait = json.loads(blocked.stdout)["traits"][0]
    assert (trait["status"], trait["reason"]) == ("FAIL", "rule 1 (n gte 1) did not hold: n is 0")

    today = datetime.now(UTC).date().isoformat()
    admin(f"insert into sales values ('{today}', 10, now()), ('{today}', 12, now())", warehouse)
    ready = interlock(project, url, "evaluate", "sales-daily", "--json")
    assert ready.returncode == 0, ready.stdout + ready.stderr
    trait = json.loads(ready.stdout)["traits"][0]
    assert trait["status"] == "PASS" and trait["value"]["row"]["n"] == 2
