"""The alert rules and the dashboard as Prometheus reads them: promtool checks and unit-tests the rules."""

from __future__ import annotations

import shutil
import subprocess

from tests.observability.rules import ALERTS, ROOT, dashboard_queries, metric_names, rule_queries

PROMTOOL = shutil.which("promtool")
MISSING = "promtool is not installed: .ci/run installs it (apt-get install prometheus)"


def test_promtool_accepts_the_alert_rules() -> None:
    assert PROMTOOL, MISSING
    result = subprocess.run([PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_the_alert_rules_fire_when_their_unit_tests_say() -> None:
    assert PROMTOOL, MISSING
    result = subprocess.run([PROMTOOL, "test", "rules", "alerts_test.yml"], cwd=ROOT / "deploy" / "prometheus",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_refuses_a_broken_rule(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert PROMTOOL, MISSING
    broken = tmp_path / "alerts.yml"
    broken.write_text(ALERTS.read_text().replace("> 60", "> > 60", 1))
    result = subprocess.run([PROMTOOL, "check", "rules", str(broken)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "parse error" in (result.stdout + result.stderr)


def test_the_dashboard_covers_what_the_issue_asks_for() -> None:
    names = metric_names(dashboard_queries())
    assert {"interlock_pipelines", "interlock_triggers_total", "interlock_triggers_failed_total",
            "interlock_push_to_trigger_seconds_bucket", "interlock_step_seconds_bucket",
            "interlock_evaluator_errors_total", "interlock_sla_alerts_total", "interlock_reconcile_lag_seconds",
            "interlock_archive_lag_entries", "interlock_queue_depth", "interlock_queue_consumers"} <= names
    assert metric_names(rule_queries()) <= names | {"interlock_due_overdue_entries"}
