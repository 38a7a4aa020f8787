"""`interlock demo`: the whole local deployment, live."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from interlock.cli.common import EXIT_FAILED, EXIT_OK, err, out
from interlock.cli.main import cli

# How long to wait for workers to come up before pushing the markers (s).
STARTUP_TIMEOUT = 60


@cli.command()
@click.option("--dir", "workdir", type=click.Path(path_type=Path), help="Where to write the demo project "
              "(default: a new temporary folder).")
@click.option("--once", is_flag=True, help="Exit as soon as every pipeline has settled.")
@click.option("--duration", type=float, default=None, help="Exit after this many seconds at most.")
def demo(workdir: Path | None, once: bool, duration: float | None) -> None:
    """Run a whole local deployment (workers, Beat, fake Airflow) and watch pipelines move through it."""
    from rich.live import Live

    from interlock.config import load_project
    from interlock.demo import stack as d
    from interlock.steps.deps import build_deps

    workdir = workdir or d.default_workdir()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        with d.running_stack(workdir) as (_stack, config, prefix):
            project = load_project(config)
            deps = build_deps(project)
            out.print(f"Demo project: {workdir}  (key prefix {prefix})")
            out.print(f"Started: one worker per queue ({', '.join(d.QUEUES)}), Beat, a fake Airflow.")
            if not _wait_for_workers(workdir):
                err.print(f"[red]workers did not start within {STARTUP_TIMEOUT}s[/red]; see {workdir}/worker-*.log")
                sys.exit(EXIT_FAILED)
            for pipeline in ("bronze", "flaky-export", "blocked-report"):
                _push(config, pipeline)
            settled_at = None
            with Live(_table(deps), console=out, refresh_per_second=4) as live:
                while True:
                    time.sleep(0.5)
                    rows = _rows(deps)
                    live.update(_table(deps, rows))
                    if _settled(rows, workdir) and settled_at is None:
                        settled_at = time.monotonic()
                        if once:
                            break
                    if duration is not None and time.monotonic() - started >= duration:
                        break
            out.print()
            ok = settled_at is not None
            _where_next(workdir, config, ok, started, settled_at)
            if not once and duration is None:
                out.print("Still running: press Ctrl-C to stop every process the demo started.")
                while True:
                    time.sleep(1)
    except d.NoRedis as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        out.print("\nstopped")
        sys.exit(EXIT_OK)
    sys.exit(EXIT_OK if ok else EXIT_FAILED)


def _wait_for_workers(workdir: Path) -> bool:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    from interlock.demo.stack import QUEUES

    logs = [workdir / f"worker-{q}.log" for q in QUEUES]
    while time.monotonic() < deadline:
        if all(log.exists() and " ready." in log.read_text(errors="replace") for log in logs):
            return True
        time.sleep(0.3)
    return False


def _push(config: Path, pipeline: str) -> None:
    import subprocess

    subprocess.run([sys.executable, "-m", "interlock.cli", "--config", str(config), "push", pipeline,
                    "ready-marker", "--status", "PASS", "--reason", "pushed by the demo"],
                   capture_output=True, check=True, timeout=60)


def _rows(deps: Any) -> list[dict[str, Any]]:
    from interlock.periods import period_at

    rows = []
    now = deps.clock.now()
    for name in ("bronze", "silver", "gold", "blocked-report", "flaky-export"):
        config = deps.store.get_pipeline(name)
        schedule = config.schedule_list()[0]
        entry = deps.store.get_run_log(name, period_at(config, schedule, now).key, schedule.name)
        readiness = deps.store.get_readiness(name)
        why = ""
        if readiness and readiness.blocking:
            reasons = {t.trait_type: t.reason for t in readiness.traits}
            why = "; ".join(f"{b}: {reasons.get(b) or 'not passing'}" for b in readiness.blocking)
        rows.append({"pipeline": name, "status": entry.status.value if entry else "—",
                     "attempt": entry.attempt_number if entry else "",
                     "readiness": readiness.status.value if readiness else "…", "why": why,
                     "failure": entry.failure_message if entry and entry.failure_message else ""})
    return rows


def _table(deps: Any, rows: list[dict[str, Any]] | None = None) -> Any:
    from rich.table import Table

    table = Table(title="Interlock demo — pipelines (Ctrl-C stops everything)", title_justify="left")
    for column in ("pipeline", "run", "attempt", "readiness", "why blocked / last failure"):
        table.add_column(column)
    for r in rows or []:
        style = {"COMPLETED": "green", "FAILED": "red", "RUNNING": "cyan", "TRIGGERING": "cyan"}.get(r["status"], "")
        status = f"[{style}]{r['status']}[/{style}]" if style else r["status"]
        table.add_row(r["pipeline"], status, str(r["attempt"]), r["readiness"], r["why"] or r["failure"])
    return table


def _settled(rows: list[dict[str, Any]], workdir: Path) -> bool:
    from interlock.demo.stack import EXPECTED

    by_name = {r["pipeline"]: r for r in rows}
    for name, status in EXPECTED.items():
        row = by_name[name]
        if status is None:
            if row["readiness"] != "NOT_READY":
                return False
        elif row["status"] != status:
            return False
    alerts = workdir / "alerts.jsonl"
    return alerts.exists() and any(json.loads(line).get("alertType") == "retry_exhausted"
                                   for line in alerts.read_text().splitlines())


def _where_next(workdir: Path, config: Path, ok: bool, started: float, settled_at: float | None) -> None:
    if ok and settled_at is not None:
        out.print(f"[green]✓[/green] every pipeline settled as expected in {settled_at - started:.1f}s")
    else:
        err.print("[red]✗[/red] not every pipeline settled as expected; see the logs below")
    out.print("Where to look next:")
    out.print(f"  interlock --config {config} status           # this period, per pipeline")
    out.print(f"  interlock --config {config} events gold      # every decision, and why")
    out.print(f"  interlock --config {config} evaluate blocked-report")
    out.print(f"  {workdir / 'alerts.jsonl'}                   # alerts (the exhausted retry, the blocked report)")
    out.print(f"  {workdir}/worker-*.log, beat.log              # the processes")
