"""``alerts``: every attempt to deliver an alert to a sink, and how it went (the alert outbox)."""

from __future__ import annotations

import click

from interlock.cli.common import Context, emit_json, failing_cleanly, out
from interlock.cli.main import cli


@cli.command("alerts")
@click.option("--failed", is_flag=True, help="Only the attempts that failed.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="List at most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print the attempts as a JSON list.")
@click.pass_obj
def alerts(obj: Context, failed: bool, limit: int, as_json: bool) -> None:
    """List alert delivery attempts, newest first: the sink, the attempt, sent or the error.

    Each alert is recorded by the step that raised it and delivered apart (the ``alerts`` queue);
    a failed attempt is retried with backoff, and ``final`` marks the last one. Attempts are kept
    for the store's retention, the newest 1000.
    """
    from interlock.store.factory import open_store

    project = obj.project()
    with failing_cleanly("reading the alert deliveries"):
        store = open_store(project)
        found = store.list_deliveries(limit, failed=failed)
    if as_json:
        emit_json([d.to_json() for d in found])
        return
    if not found:
        out.print("No failed alert deliveries." if failed else "No alert deliveries.")
        return
    from rich.table import Table

    table = Table()
    for column in ("time", "alert", "pipeline", "sink", "attempt", "outcome", "seconds"):
        table.add_column(column, overflow="fold")
    for d in found:
        if d.ok:
            outcome = "sent"
        else:
            retry = f"retry at {d.retry_at.isoformat(timespec='seconds')}" if d.retry_at else ""
            then = "gave up" if d.final else retry
            outcome = f"failed ({then}): {d.error or ''}"
        table.add_row(d.at.isoformat(timespec="seconds"), d.alert_type or d.alert_id or "", d.pipeline_id or "",
                      d.sink, str(d.attempt), outcome, f"{d.seconds:.3f}", end_section=False)
    out.print(table, markup=False)
