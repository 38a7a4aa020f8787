"""`interlock check`: run the SLA and watchdog checks once, at a given instant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from interlock.cli.common import Context, emit_json, fail_input, failing_cleanly, open_deps, out
from interlock.cli.main import cli


@cli.command()
@click.option("--now", "at", metavar="ISO8601", help="The instant to check at (default: now), e.g. 2026-03-01T09:05Z.")
@click.option("--json", "as_json", is_flag=True, help="Print the alerts raised as a JSON list.")
@click.pass_obj
def check(obj: Context, at: str | None, as_json: bool) -> None:
    """Run the SLA and stuck-run checks once and print the alerts they raise (each fires once)."""
    from interlock.clock import FrozenClock
    from interlock.model import ACTIVE_RUN_STATUSES
    from interlock.periods import period_at, previous_period
    from interlock.steps.sla import check_sla
    from interlock.steps.watchdog import check_stuck

    instant = datetime.now(UTC)
    if at is not None:
        try:
            instant = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            fail_input(f"--now must be an ISO 8601 instant such as 2026-03-01T09:05:00Z, got {at!r}")
        if instant.tzinfo is None:
            fail_input("--now needs a time zone (e.g. a trailing Z for UTC)")
    deps = open_deps(obj)
    deps.clock = FrozenClock(instant)
    alerts: list[dict[str, Any]] = []
    with failing_cleanly("checking"):
        for pipeline in deps.store.list_pipelines():
            for schedule in pipeline.schedule_list():
                for alert in check_sla(deps, pipeline.name, schedule.name):
                    alerts.append(_row(alert, schedule.name))
                current = period_at(pipeline, schedule, instant)
                for period in (previous_period(pipeline, schedule, current), current):
                    entry = deps.store.get_run_log(pipeline.name, period.key, schedule.name)
                    if entry and entry.status in ACTIVE_RUN_STATUSES:
                        stuck = check_stuck(deps, entry.run_id)
                        if stuck:
                            alerts.append(_row(stuck, schedule.name))
    if as_json:
        emit_json(alerts)
        return
    if not alerts:
        out.print(f"no alerts at {instant.isoformat()}")
    for a in alerts:
        out.print(f"[{a['level'].upper()}] {a['category']} {a['pipelineId']}/{a['scheduleId']}: {a['message']}",
                  markup=False)


def _row(alert: Any, schedule: str) -> dict[str, Any]:
    return {"category": alert.alert_type, "pipelineId": alert.pipeline_id, "scheduleId": schedule,
            "level": alert.level.value, "message": alert.message, "timestamp": alert.timestamp.isoformat(),
            "details": alert.details}
