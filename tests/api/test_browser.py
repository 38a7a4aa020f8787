"""The status page in headless Chromium (Debian's chromium, installed by .ci/run): it loads, shows a
blocked pipeline with its blocking trait and a completed one, and its screenshot is the README's."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from interlock.steps.evaluate import evaluate
from interlock.steps.push import push_trait
from interlock.steps.runs import trigger
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
