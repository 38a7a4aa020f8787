"""`make test-unit` selects only tests that need no service, and never the real-server tests (Airflow,
Dagster, Prefect); `make test` leaves those out too."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def collected(*args: str) -> list[str]:
    """Test ids pytest would run with these arguments (collection only, in a subprocess)."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 5), done.stdout + done.stderr  # 5: nothing selected
    return [line for line in done.stdout.splitlines() if "::" in line]


def unit_marker_expression() -> str:
    """The -m expression the Makefile's test-unit target passes to pytest."""
    target = re.search(r"^test-unit:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert target, "the Makefile has no test-unit recipe"
    expression = re.search(r"-m\s+[\"']([^\"']+)[\"']", target.group(1))
    assert expression, f"test-unit passes no -m expression: {target.group(1)}"
    return expression.group(1)


def test_make_test_unit_does_not_collect_the_real_airflow_test() -> None:
    # Before: test-unit's -m "not integration" replaced addopts' -m 'not airflow3' and brought it back.
    assert collected("-m", unit_marker_expression(), "tests/airflow3") == []


def test_the_real_airflow_test_is_collected_when_asked_for() -> None:
    assert collected("-m", "airflow3", "tests/airflow3") != []


REAL_SERVERS = [("dagster", "tests/dagster"), ("prefect", "tests/prefect")]


@pytest.mark.parametrize(("marker", "folder"), REAL_SERVERS)
def test_make_test_and_test_unit_leave_out_the_real_dagster_and_prefect_tests(marker: str, folder: str) -> None:
    assert collected(folder) == []
    assert collected("-m", unit_marker_expression(), folder) == []
    assert collected("-m", "airflow3", folder) == []  # another real server's target does not run them


@pytest.mark.parametrize(("marker", "folder"), REAL_SERVERS)
def test_the_real_dagster_and_prefect_tests_are_collected_when_asked_for(marker: str, folder: str) -> None:
    target = re.search(rf"^test-{marker}:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert target and f"-m {marker} {folder}" in target.group(1)
    assert collected("-m", marker, folder) != []


def test_make_test_unit_leaves_out_the_tests_on_the_real_redis() -> None:
    ids = collected("-m", unit_marker_expression(), "tests/conformance")
    assert ids and all("[memory" in test_id for test_id in ids), [i for i in ids if "[memory" not in i][:3]
