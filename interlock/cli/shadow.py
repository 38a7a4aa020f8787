"""``interlock shadow-report``: what pipelines in shadow mode would have done (interlock/shadow_report.py)."""

from __future__ import annotations

from datetime import timedelta

import click
from rich.table import Table

from interlock.cli.common import Context, emit_json, err, fail_input, failing_cleanly, open_deps, out
from interlock.cli.main import cli
from interlock.errors import UnknownPipeline
from interlock.shadow_report import report
from interlock.timeutil import parse_duration

# The longest look back: the store keeps events for its retention anyway (default 7 days).
MAX_SINCE_DAYS = 366


def _since(text: str) -> timedelta:
    """``7d`` (whole days), or a duration as everywhere else (``36h``, ``90m``); exits 2 when neither."""
    try:
        if text.endswith("d") and text[:-1].isdigit():
            return timedelta(days=int(text[:-1]))
        return parse_duration(text)
    except (ValueError, OverflowError) as exc:
        fail_input(f"--since: {exc}")


@cli.command("shadow-report")
@click.argument("pipeline", required=False)
@click.option("--since", default="7d", show_default=True, metavar="DURATION",
              help="How far back to look (e.g. 24h, 7d).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.pass_obj
def shadow_report(obj: Context, pipeline: str | None, since: str, as_json: bool) -> None:
    """Per pipeline and period: when Interlock would have triggered, when the real job started, the
    difference, and the periods it would have held back (with the blocking traits).

    Reports the pipelines in shadow mode (``dryRun: true``), and live ones whose shadow records are
    still within --since. PIPELINE: only that one.
    """
    window = _since(since)
    if window.total_seconds() <= 0 or window.days > MAX_SINCE_DAYS:
        fail_input(f"--since must be more than 0 and at most {MAX_SINCE_DAYS}d, got {since!r}")
    deps = open_deps(obj, pipeline=pipeline)
    with failing_cleanly("reading the shadow records"):
        if pipeline is not None:
            try:
                configs = [deps.pipeline(pipeline)]
            except UnknownPipeline:
                fail_input(f"unknown pipeline {pipeline!r}")
        else:
            configs = deps.store.list_pipelines()
        shadow_now = {c.name for c in configs if deps.is_shadow(c.name)}
        rows = report(deps.store, configs, shadow_now, deps.clock.now() - window,
                      deps.project.settings.event_stream_max)
    if as_json:
        emit_json([r.to_json() for r in rows])
        return
    if not rows:
        err.print(f"no shadow records in the last {since} (is a pipeline set to dryRun: true, and are the "
                  "workers running?)")
        return
    table = Table("pipeline", "schedule", "period", "would trigger", "actual start", "verdict")
    for r in rows:
        table.add_row(r.pipeline, r.schedule, r.period,
                      r.would_trigger_at.isoformat(timespec="seconds") if r.would_trigger_at else "-",
                      r.actual_start_at.isoformat(timespec="seconds") if r.actual_start_at else "-",
                      r.verdict())
    out.print(table)
