"""The status page and a pipeline's page in headless Chromium (Debian's chromium, installed by .ci/run).

The overview loads, shows a blocked pipeline with its blocking trait and a completed one, and links
to each pipeline's page; a pipeline's page draws three days of its explain timeline. Both
screenshots are the README's."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from interlock.clock import FrozenClock, SystemClock
from interlock.steps.advance import advance
from interlock.steps.dispatch import InlineDispatcher
from interlock.steps.evaluate import evaluate
from interlock.steps.push import push_trait
from interlock.steps.runs import trigger
from interlock.steps.sla import check_sla
from tests.api.live import serve
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_status_page_in_a_real_browser(harness: Harness, tmp_path: Path) -> None:
    assert CHROMIUM, "chromium is not installed: .ci/run installs it (apt-get install chromium)"
    harness.archetype("marked", ["marker"])
    harness.archetype("checked", ["t1"])
    harness.pipeline("orders", "marked", {}, extra="trigger:\n  type: command\n  command: {command: 'true'}\n")
    harness.pipeline("blocked", "checked", {"t1": "fail"},
                     extra="trigger:\n  type: command\n  command: {command: 'true'}\n")
    deps = harness.deps()
    push_trait(deps, "orders", "marker", "PASS")
    trigger(deps, "orders", "daily", evaluate(deps, "orders").period, 1)
    evaluate(deps, "blocked")
    with serve(harness) as base:
        url = f"{base}/"
        profile = tmp_path / "chrome-profile"
        dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120, check=True).stdout
        assert "Interlock — pipelines" in dom
        assert "<b>blocked</b>" in dom and "deliberate test failure" in dom
        assert "COMPLETED" in dom
        shot = tmp_path / "status-page.png"
        subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1500,420",
                        f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if os.environ.get("INTERLOCK_SAVE_SCREENSHOT"):
            shutil.copy(shot, os.environ["INTERLOCK_SAVE_SCREENSHOT"])


def _three_days_of_orders(harness: Harness, flag: Path, now: datetime) -> None:
    """orders over three days (UTC): blocked then triggered; blocked all day with an SLA breach; today
    READY at once but the job fails twice and retries are exhausted. Built through the steps."""
    harness.archetype("a", ["t1", "t2"])
    harness.pipeline("orders", "a", {"t1": "pass", "t2": None},
                     extra=f"trigger:\n  type: command\n  command: {{command: 'test -e {flag}'}}\n"
                     "retry: {maxAttempts: 2, backoffSeconds: 60}\nsla: {evaluationDeadline: '10:30'}\n")
    today = datetime.combine(now.date(), time(0), tzinfo=UTC)
    clock = FrozenClock(today - timedelta(days=2) + timedelta(hours=8))
    deps = InlineDispatcher(harness.deps(clock), only={"trigger", "advance"}).deps
    flag.touch()
    for hour, status in ((8, "FAIL"), (9, "FAIL"), (10, "PASS")):
        clock.set(today - timedelta(days=2) + timedelta(hours=hour))
        push_trait(deps, "orders", "t2", status)
        advance(deps, "orders", "daily")
    for hour in (8, 9, 10):
        clock.set(today - timedelta(days=1) + timedelta(hours=hour))
        push_trait(deps, "orders", "t2", "FAIL")
        advance(deps, "orders", "daily")
    clock.set(today - timedelta(days=1) + timedelta(hours=11))
    check_sla(deps, "orders", "daily")
    flag.unlink()
    start = max(today + timedelta(minutes=1), now - timedelta(minutes=30))
    clock.set(start)
    push_trait(deps, "orders", "t2", "PASS")
    advance(deps, "orders", "daily")
    clock.set(start + timedelta(seconds=61))
    advance(deps, "orders", "daily")


def test_pipeline_page_draws_the_explain_timeline_in_a_real_browser(harness: Harness, tmp_path: Path) -> None:
    assert CHROMIUM, "chromium is not installed: .ci/run installs it (apt-get install chromium)"
    now = datetime.now(UTC)
    _three_days_of_orders(harness, tmp_path / "flag", now)
    harness.store.clock = SystemClock()  # the server judges "now" by the real clock
    with serve(harness) as base:
        profile = tmp_path / "chrome-profile"
        overview = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", f"{base}/"],
                                  capture_output=True, text=True, timeout=120, check=True).stdout
        assert '<a href="/pipelines/orders"><b>orders</b></a>' in overview
        url = f"{base}/pipelines/orders"
        dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120, check=True).stdout
        assert ('<div class="answer bad" id="answer">triggered at ' in dom
                and "FAILED after 2 attempts: retry budget retry.maxAttempts exhausted after 2 attempts" in dom)
        days = [(now.date() - timedelta(days=d)).isoformat() for d in (2, 1, 0)]
        assert [f'data-period="{d}"' in dom for d in days] == [True, True, True]
        assert dom.count('class="mark FAIL"') == 5 and 'class="mark PASS"' in dom  # t2 failed 2 + 3 times
        assert dom.count('class="run FAILED"') == 2 and dom.count('class="run COMPLETED"') == 1
        assert "evaluation SLA breached" not in dom.split('id="answer"')[1][:300]  # that was yesterday's
        assert "SHADOW" not in dom
        yesterday = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                                    f"{url}?period={days[1]}"], capture_output=True, text=True, timeout=120,
                                   check=True).stdout
        assert "not triggered: `t2` FAILed 3 times from 08:00 to 10:00; evaluation SLA breached at 11:00" in yesterday
        shot = tmp_path / "pipeline-page.png"
        subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1300,900",
                        f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if os.environ.get("INTERLOCK_SAVE_PIPELINE_SCREENSHOT"):
            shutil.copy(shot, os.environ["INTERLOCK_SAVE_PIPELINE_SCREENSHOT"])
