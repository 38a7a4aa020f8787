"""The dependency picture on the status page: cascade edges, this period's state, in SVG and in a browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from interlock.api.graph import MAX_NODES, layers, render_graph
from interlock.steps.deps import Deps
from interlock.steps.evaluate import evaluate
from interlock.steps.push import push_trait
from interlock.steps.runs import trigger
from tests.api.live import serve
from tests.api.test_browser import CHROMIUM, FLAGS
from tests.steps.conftest import Harness

OK = "trigger:\n  type: command\n  command: {command: 'true'}\n"


def write(harness: Harness, name: str, text: str) -> None:
    (harness.root / "pipelines" / f"{name}.yaml").write_text(text)


def build(harness: Harness) -> Deps:
    """raw (completed) → orders (waits for raw's run, blocked by t1) ⇢ report (cascade only, no run);
    broken (its job failed) stands alone."""
    harness.archetype("marked", ["marker"])
    harness.archetype("gated", ["upstream", "t1"])
    harness.archetype("plain", ["t1"])
    harness.pipeline("raw", "marked", {}, extra=OK)
    write(harness, "orders", "name: orders\narchetype: gated\ntraits:\n"
                             "  upstream: {evaluator: 'builtin:upstream-job-log', config: {upstreamPipeline: raw}}\n"
                             "  t1: {evaluator: fail}\n" + OK)
    write(harness, "report", "name: report\narchetype: plain\ntraits:\n"
                             "  t1: {evaluator: pass, config: {upstreamPipeline: orders}}\n" + OK)
    harness.pipeline("broken", "marked", {}, extra="retry: {maxAttempts: 1}\ntrigger:\n  type: command\n"
                                                   "  command: {command: 'false'}\n")
    deps = harness.deps()
    for name in ("raw", "broken"):
        push_trait(deps, name, "marker", "PASS")
        trigger(deps, name, "daily", evaluate(deps, name).period, 1)
    evaluate(deps, "orders")
    return deps


def nodes(svg: str) -> dict[str, str]:
    return dict(re.findall(r'<g class="node" data-pipeline="([^"]+)" data-state="([^"]+)"', svg))


def arrows(svg: str) -> list[tuple[str, str, str]]:
    return re.findall(r'<path class="edge" data-from="([^"]+)" data-to="([^"]+)" data-kind="([^"]+)"', svg)


def test_the_graph_draws_cascade_edges_and_colours_pipelines_by_this_periods_state(harness: Harness) -> None:
    deps = build(harness)
    svg = render_graph(deps, deps.clock.now())
    assert nodes(svg) == {"broken": "failed", "orders": "blocked", "raw": "completed", "report": "waiting"}
    assert arrows(svg) == [("orders", "report", "cascade"), ("raw", "orders", "upstream-job-log")]
    # Layered left to right: raw, then orders, then report.
    boxes = re.findall(r'data-pipeline="([^"]+)"[^>]*><title>[^<]*</title><rect x="(\d+)" y="(\d+)"', svg)
    x = {name: int(left) for name, left, _ in boxes}
    y = {name: int(top) for name, _, top in boxes}
    assert x["raw"] < x["orders"] < x["report"] and x["broken"] == x["raw"]
    assert y["raw"] == y["orders"] == y["report"] < y["broken"]  # a chain on one line, the loner below
    assert "failed" in svg and "blocked" in svg  # the state in words, not in colour alone


def test_layers_survive_a_cycle_and_an_empty_project_draws_nothing(harness: Harness) -> None:
    from interlock.api.graph import Edge

    assert layers(["a", "b"], [Edge("a", "b", True), Edge("b", "a", True)]) == {"a": 0, "b": 1}
    assert layers(["a", "b"], [Edge("a", "a", True)]) == {"a": 0, "b": 0}  # names itself: stays put
    harness.archetype("plain", ["t1"])
    assert render_graph(harness.deps(), harness.deps().clock.now()) == ""
    assert MAX_NODES >= 100


@pytest.mark.integration
def test_the_status_page_shows_the_graph_in_a_real_browser(harness: Harness, tmp_path: Path) -> None:
    assert CHROMIUM, "chromium is not installed: .ci/run installs it (apt-get install chromium)"
    build(harness)
    with serve(harness) as base:
        profile = tmp_path / "chrome-profile"
        dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", f"{base}/"],
                             capture_output=True, text=True, timeout=120, check=True).stdout
        assert nodes(dom) == {"broken": "failed", "orders": "blocked", "raw": "completed", "report": "waiting"}
        assert ("raw", "orders", "upstream-job-log") in arrows(dom)
        assert "<h2 class=\"graph-title\">Dependencies</h2>" in dom
        shot = tmp_path / "status-graph.png"
        subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1200,560",
                        f"--screenshot={shot}", f"{base}/"], capture_output=True, timeout=120, check=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if os.environ.get("INTERLOCK_SAVE_GRAPH_SCREENSHOT"):
            shutil.copy(shot, os.environ["INTERLOCK_SAVE_GRAPH_SCREENSHOT"])
