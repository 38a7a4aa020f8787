"""`interlock shadow-report` end to end on the real Redis: a shadow `run` starts nothing and is reported;
bad arguments exit 2 and change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli_pipelines import prefix, project, project_files  # noqa: F401  (fixtures)
from tests.test_cli_project import interlock

pytestmark = pytest.mark.integration


def shadow(root: Path) -> None:
    with (root / "pipelines" / "example.yaml").open("a") as f:
        f.write("dryRun: true\n")


def test_a_shadow_run_starts_nothing_and_the_report_shows_when_it_would_have(project: Path) -> None:  # noqa: F811
    shadow(project)
    ran = interlock("run", "example", "--json", cwd=project)
    assert ran.returncode == 0, ran.stderr
    answer = json.loads(ran.stdout)
    assert (answer["outcome"], answer["runId"], answer["shadow"]) == ("triggered", None, True)

    result = interlock("shadow-report", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["pipeline"] == "example" and row["wouldTriggerAt"] and not row["heldBack"]
    assert row["actualStartAt"] is None and row["verdict"] == "would trigger; no real start recorded"

    table = interlock("shadow-report", "example", "--since", "36h", cwd=project)
    assert table.returncode == 0 and "example" in table.stdout and "would trigger" in table.stdout
    # A live pipeline with no shadow records is not in the report.
    orders = interlock("shadow-report", "orders", "--json", cwd=project)
    assert orders.returncode == 0 and json.loads(orders.stdout) == []


@pytest.mark.parametrize(("args", "says"), [
    (["--since", "nope"], "--since"), (["--since", "0"], "--since"), (["--since", "-7d"], "--since"),
    (["--since", "99999999999999d"], "--since"), (["--since", "400d"], "--since"),
    (["no-such-pipeline"], "unknown pipeline"),
])
def test_bad_arguments_exit_2_with_a_reason(project: Path, args: list[str], says: str) -> None:  # noqa: F811
    result = interlock("shadow-report", *args, cwd=project)
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr
