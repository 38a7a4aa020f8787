"""Render the Grafana dashboard's panels without Grafana: its own PromQL, a real Prometheus, a live stack.

Grafana cannot be installed here (not on PyPI, npm or Debian), so this draws what the dashboard
would show from the same queries:

1. starts a small stack on a private key prefix (the API, an evaluation worker, a worker for the
   other queues, Beat) and drives traffic: pushes that trigger jobs, a pipeline whose job fails,
   a trait whose evaluator errors, a run that breaks its ``sla.maxDuration``;
2. starts Debian's Prometheus (``/usr/bin/prometheus``) on a free loopback port, scraping the API's
   ``/metrics`` every second with ``deploy/prometheus/alerts.yml`` loaded;
3. after ``--seconds`` of traffic, runs every panel's query from ``deploy/grafana/interlock.json``
   through ``/api/v1/query_range``;
4. draws the panels (title, a line per series, bars for bar gauges) on the dashboard's 24-column
   grid in one self-contained HTML page (inline SVG);
5. screenshots the page with headless Chromium.

    python -m deploy.render_dashboard                 # writes docs/grafana-dashboard.png
    python -m deploy.render_dashboard --seconds 30 --html /tmp/d.html --png /tmp/d.png

Needs Redis on 127.0.0.1:6379, ``prometheus`` and ``chromium`` (``.ci/run`` installs both).
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "interlock.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PNG = ROOT / "docs" / "grafana-dashboard.png"

# Pixels per grid unit: Grafana's grid is 24 columns wide, a row unit is 30 px high.
WIDTH = 1560
ROW = 30
GAP = 8
COLOURS = ("#73bf69", "#f2cc0c", "#5794f2", "#ff9830", "#f2495c", "#b877d9", "#8ab8ff", "#fade2a",
           "#37872d", "#c4162a")
_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str  # the Grafana panel type: timeseries or bargauge
    grid: dict[str, int]  # x, y, w, h in grid units
    unit: str
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class Series:
    name: str
    points: tuple[tuple[float, float], ...]  # (unix time, value), NaN dropped


def panels(dashboard: dict[str, Any]) -> list[Panel]:
    """Every panel of a dashboard JSON with its queries; a panel without a query is an error."""
    found = []
    for i, raw in enumerate(dashboard.get("panels", [])):
        title = raw.get("title") or f"panel {i}"
        targets = tuple(Target(t["expr"], t.get("legendFormat", "")) for t in raw.get("targets", []) if t.get("expr"))
        if not targets:
            raise ValueError(f"{DASHBOARD.name}: panels[{i}] ({title!r}) has no PromQL target")
        unit = raw.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
        found.append(Panel(title, raw.get("type", "timeseries"), dict(raw["gridPos"]), unit, targets))
    return found


def legend(fmt: str, labels: dict[str, str]) -> str:
    """Grafana's ``{{label}}`` legend format; without one, the labels as ``{a="b"}``."""
    if fmt:
        return _LABEL.sub(lambda m: labels.get(m.group(1), ""), fmt)
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def series_of(answer: dict[str, Any], target: Target) -> list[Series]:
    """The series in a Prometheus ``query_range`` answer (``resultType: matrix``)."""
    if answer.get("status") != "success":
        raise ValueError(f"Prometheus refused {target.expr!r}: {answer.get('error', answer)}")
    found = []
    for result in answer["data"]["result"]:
        points = tuple((float(t), float(v)) for t, v in result["values"] if v not in ("NaN", "+Inf", "-Inf"))
        found.append(Series(legend(target.legend, result.get("metric", {})), points))
    return found


def query_all(prometheus: str, found: list[Panel], start: float, end: float, step: float) -> list[list[Series]]:
    """Every panel's queries over ``[start, end]``, one list of series per panel."""
    out = []
    with httpx.Client(base_url=prometheus, timeout=30) as client:
        for panel in found:
            series: list[Series] = []
            for target in panel.targets:
                answer = client.get("/api/v1/query_range",
                                    params={"query": target.expr, "start": start, "end": end, "step": step})
                series += series_of(answer.json(), target)
            out.append(series)
    return out


def _number(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms" if 0 < abs(value) < 1 else f"{value:.3g} s"
    return f"{value:.3g}"


def _chart(panel: Panel, series: list[Series], width: int, height: int, start: float, end: float) -> str:
    """An SVG line chart: one polyline per series, y axis from 0, a legend under it."""
    columns = max(1, min(3, (width - 66) // 190))  # legend entries per line
    left, top, bottom = 56, 8, 22 + 16 * ((len(series) + columns - 1) // columns)
    plot_w, plot_h = width - left - 10, max(30, height - top - bottom)
    values = [v for s in series for _, v in s.points]
    high = max([*values, 0.0]) or 1.0
    high *= 1.1
    span = (end - start) or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" class="chart">']
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#2c3235"/>')
        label = _number(high * i / 4, panel.unit)
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    for i in range(5):
        x = left + plot_w * i / 4
        stamp = time.strftime("%H:%M:%S", time.gmtime(start + span * i / 4))
        anchor = ("start", "middle", "middle", "middle", "end")[i]
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="{anchor}">{stamp}</text>')
    for n, s in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        xy = " ".join(f"{left + plot_w * (t - start) / span:.1f},{top + plot_h - plot_h * v / high:.1f}"
                      for t, v in s.points)
        if xy:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{xy}"/>')
        lx, ly = left + (n % columns) * (plot_w // columns), top + plot_h + 32 + 16 * (n // columns)
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="12" height="4" fill="{colour}"/>'
                     f'<text x="{lx + 16}" y="{ly - 4}">{html.escape(s.name)}</text>')
    if not series:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle">No data</text>')
    parts.append("</svg>")
    return "".join(parts)


def _bars(panel: Panel, series: list[Series], width: int, height: int) -> str:
    """An SVG bar gauge: the last value of each series as a horizontal bar."""
    last = [(s.name, s.points[-1][1] if s.points else 0.0) for s in series]
    high = max([v for _, v in last] + [0.0]) or 1.0
    row = min(40, max(18, (height - 10) // max(1, len(last))))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" class="chart">']
    for n, (name, value) in enumerate(last):
        y = 6 + n * row
        bar = (width - 250) * value / high
        parts.append(f'<text x="160" y="{y + row / 2 + 4:.1f}" text-anchor="end">{html.escape(name)}</text>'
                     f'<rect x="168" y="{y + 2}" width="{width - 250}" height="{row - 6}" fill="#22252b"/>'
                     f'<rect x="168" y="{y + 2}" width="{bar:.1f}" height="{row - 6}" '
                     f'fill="{COLOURS[n % len(COLOURS)]}"/>'
                     f'<text x="{width - 10}" y="{y + row / 2 + 4:.1f}" text-anchor="end" class="value">'
                     f"{_number(value, panel.unit)}</text>")
    if not last:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">No data</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(found: list[Panel], results: list[list[Series]], start: float, end: float, note: str = "") -> str:
    """One self-contained page: each panel at its gridPos, its title and an SVG of its series."""
    cell = WIDTH / 24
    boxes = []
    for panel, series in zip(found, results, strict=True):
        g = panel.grid
        x, y = 20 + g["x"] * cell, 70 + g["y"] * ROW
        w, h = g["w"] * cell - GAP, g["h"] * ROW - GAP
        svg = (_bars(panel, series, int(w) - 16, int(h) - 40) if panel.kind == "bargauge"
               else _chart(panel, series, int(w) - 16, int(h) - 40, start, end))
        boxes.append(f'<div class="panel" style="left:{x:.0f}px;top:{y:.0f}px;width:{w:.0f}px;height:{h:.0f}px">'
                     f"<h2>{html.escape(panel.title)}</h2>{svg}</div>")
    bottom = 70 + max((p.grid["y"] + p.grid["h"]) * ROW for p in found) + 40
    window = (f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(start))} – "
              f"{time.strftime('%H:%M:%S', time.gmtime(end))} UTC")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Interlock dashboard</title><style>
body {{ margin: 0; background: #111217; color: #ccccdc; font: 13px sans-serif; height: {bottom}px; }}
header {{ position: absolute; left: 20px; top: 14px; right: 20px; }}
header h1 {{ font-size: 20px; margin: 0; color: #fff; display: inline; }}
header span {{ margin-left: 16px; color: #8e8e8e; }}
.panel {{ position: absolute; background: #181b1f; border: 1px solid #2c3235; border-radius: 3px;
         padding: 6px 8px; box-sizing: border-box; }}
.panel h2 {{ font-size: 14px; margin: 2px 0 10px; color: #d8d9da; font-weight: 500; }}
.chart text {{ fill: #9fa7b3; font-size: 11px; }}
.chart text.value {{ fill: #fff; font-size: 14px; }}
</style></head><body>
<header><h1>Interlock</h1><span>{html.escape(window)}</span><span>{html.escape(note)}</span></header>
{"".join(boxes)}
</body></html>
"""


def screenshot(page: Path, png: Path, height: int = 1100) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed (.ci/run installs it: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="render-dashboard-chromium-") as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size=1600,{height}",
                        page.resolve().as_uri()], capture_output=True, timeout=120, check=True)


# --- the live run ---------------------------------------------------------------------------------

PROJECT = {
    "archetypes/marked.yaml": "name: marked\nrequiredTraits:\n  - {type: ready-marker}\n"
                              "readinessRule: {type: all-required-pass}\n",
    "archetypes/checked.yaml": "name: checked\nrequiredTraits:\n  - {type: ready-marker}\n  - {type: source-file}\n"
                               "readinessRule: {type: all-required-pass}\n",
    "evaluators/broken": "#!/bin/sh\necho 'warehouse connection refused' >&2\nexit 3\n",
}
OK_PIPELINES = 24


def write_project(root: Path, prefix: str) -> Path:
    for folder in ("archetypes", "pipelines", "evaluators"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "interlock.yaml").write_text(
        f'provider: redis\nredis: {{addr: "127.0.0.1:6379", keyPrefix: "{prefix}"}}\n'
        "archetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\nevaluatorDirs: [./evaluators]\n"
        "alerts:\n  - {type: file, path: alerts.jsonl}\n"
        "watcher: {defaultInterval: 2s, reconcileInterval: 1s}\n")
    for name, text in PROJECT.items():
        (root / name).write_text(text)
    (root / "evaluators" / "broken").chmod(0o755)
    command = "trigger:\n  type: command\n  pollInterval: 1s\n  command: {{command: '{}', shell: true}}\n"
    for i in range(OK_PIPELINES):
        (root / "pipelines" / f"table-{i:02d}.yaml").write_text(
            f"name: table-{i:02d}\narchetype: marked\n" + command.format(f"sleep {1 + i % 3}"))
    for i in range(3):
        (root / "pipelines" / f"export-{i}.yaml").write_text(
            f"name: export-{i}\narchetype: marked\n" + command.format("echo upstream API refused >&2; exit 1"))
    (root / "pipelines" / "slow-report.yaml").write_text(
        "name: slow-report\narchetype: marked\nsla: {maxDuration: 3s}\n" + command.format("sleep 20"))
    (root / "pipelines" / "late-report.yaml").write_text(
        "name: late-report\narchetype: marked\nsla: {completionDeadline: '+1m'}\n" + command.format("sleep 5"))
    (root / "pipelines" / "ledger.yaml").write_text(
        "name: ledger\narchetype: checked\ntraits:\n  source-file: {evaluator: broken}\n" + command.format("true"))
    return root / "interlock.yaml"


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def live_stack(root: Path) -> Iterator[str]:
    """The API, two workers and Beat on a private key prefix; yields the API's URL."""
    import redis

    from interlock.demo.stack import Stack, free_port
    from interlock.steps.registry import queues
    from interlock.store.redis import RedisStore

    prefix = f"interlock-dashboard-{uuid.uuid4().hex[:8]}:"
    config = write_project(root, prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERLOCK_", "OTEL_"))}
    env.update(INTERLOCK_CONFIG=str(config), PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    cli = [sys.executable, "-m", "interlock.cli"]
    port = free_port()
    stack = Stack()
    others = ",".join(q for q in queues() if q != "evaluation")
    try:
        stack.start([*cli, "serve", "--port", str(port)], root / "api.log", env, root)
        stack.start([*cli, "worker", "--queues", "evaluation", "--concurrency", "1"], root / "evaluation.log",
                    env, root)
        stack.start([*cli, "worker", "--queues", others, "--concurrency", "2"], root / "others.log", env, root)
        stack.start([*cli, "beat"], root / "beat.log", env, root)
        api = f"http://127.0.0.1:{port}"
        for name in ("evaluation", "others"):
            wait_for(lambda n=name: "ready" in (root / f"{n}.log").read_text(), 90, f"the {name} worker")
        wait_for(lambda: _answers(f"{api}/api/health"), 60, "the API")
        yield api
    finally:
        stack.stop()
        RedisStore(redis.Redis(host="127.0.0.1", decode_responses=True), prefix).purge()


@contextlib.contextmanager
def prometheus(root: Path, api: str) -> Iterator[str]:
    """Debian's Prometheus scraping ``api`` every second, with the alert rules loaded."""
    from interlock.demo.stack import Stack, free_port

    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("prometheus is not installed (.ci/run installs it: apt-get install prometheus)")
    port = free_port()
    (root / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{json.dumps(str(ALERTS))}]\n"
        "scrape_configs:\n  - job_name: interlock\n    metrics_path: /metrics\n"
        f"    static_configs: [{{targets: [{json.dumps(api.split('//', 1)[1])}]}}]\n")
    stack = Stack()
    try:
        stack.start([binary, f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'tsdb'}",
                     f"--web.listen-address=127.0.0.1:{port}"], root / "prometheus.log", dict(os.environ), root)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{url}/-/ready"), 60, "Prometheus")
        yield url
    finally:
        stack.stop()


def drive(api: str, seconds: float) -> int:
    """Push markers for ``seconds``: the failing exports and the SLA runs first, then the tables in turn."""
    names = ["export-0", "slow-report", "ledger", "late-report", "export-1"]
    names += [f"table-{i:02d}" for i in range(OK_PIPELINES)]
    names.insert(len(names) // 2, "export-2")
    pause = seconds / len(names)
    with httpx.Client(base_url=api, timeout=10) as client:
        for name in names:
            answer = client.post(f"/api/pipelines/{name}/traits/ready-marker", json={"status": "PASS"})
            if answer.status_code != 201:
                raise SystemExit(f"push to {name}: {answer.status_code} {answer.text}")
            time.sleep(pause)
    return len(names)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=75, help="how long to drive traffic (default 75)")
    parser.add_argument("--html", type=Path, help="keep the rendered page here (default: a temp dir)")
    parser.add_argument("--workdir", type=Path, help="keep the project, logs and Prometheus data here")
    parser.add_argument("--png", type=Path, default=PNG, help=f"the screenshot (default {PNG.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    found = panels(json.loads(DASHBOARD.read_text()))
    with tempfile.TemporaryDirectory(prefix="render-dashboard-") as tmp:
        root = args.workdir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        with live_stack(root) as api, prometheus(root, api) as prom:
            start = time.time()
            pushes = drive(api, args.seconds)
            time.sleep(15)  # the last runs finish and a few more scrapes land
            end = time.time()
            results = query_all(prom, found, start - 5, end, step=2)
        empty = [p.title for p, r in zip(found, results, strict=True) if not r]
        note = f"{pushes} pushes over {args.seconds:.0f} s; Prometheus scraping the API every 1 s"
        page = args.html or root / "dashboard.html"
        page.write_text(render_html(found, results, start - 5, end, note))
        args.png.parent.mkdir(parents=True, exist_ok=True)
        screenshot(page, args.png)
    print(f"{len(found)} panels, {sum(len(r) for r in results)} series; no data: {empty or 'none'}; wrote {args.png}")


if __name__ == "__main__":
    main()
