"""Run commands: ``run``, ``status``, ``events``, ``explain``, ``complete``."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from interlock.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Context,
    emit_json,
    err,
    fail_input,
    failing_cleanly,
    open_deps,
    out,
)
from interlock.cli.main import cli
from interlock.errors import UnknownPipeline
from interlock.model import STARTED_RUN_STATUSES, TERMINAL_RUN_STATUSES, UNSUCCESSFUL_RUN_STATUSES, RunStatus
from interlock.periods import RunKey

if TYPE_CHECKING:
    from interlock.model import RunState
    from interlock.steps.deps import Deps

# How often `run --wait` looks at the run (s).
WAIT_POLL = 0.5


@cli.command()
@click.argument("pipeline")
@click.option("--schedule", help="Schedule to run (default: the pipeline's first).")
@click.option("--wait", is_flag=True, help="Follow the run until it finishes.")
@click.option("--timeout", type=float, default=3600, show_default=True, help="Give up waiting after this many s.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def run(obj: Context, pipeline: str, schedule: str | None, wait: bool, timeout: float, as_json: bool) -> None:
    """Evaluate PIPELINE now and, if READY, trigger it (once per period) through the same steps."""
    from interlock.steps.advance import Outcome, run_now
    from interlock.steps.registry import run_step

    deps = open_deps(obj, pipeline=pipeline)
    with failing_cleanly("running"):
        sched, outcome, run_state = run_now(deps, pipeline, schedule)  # an unknown schedule exits 2 first
        deadline = time.monotonic() + timeout
        if wait and run_state and run_state.status not in TERMINAL_RUN_STATUSES:
            with err.status(f"waiting for run {run_state.run_id} ({run_state.status.value})") as spinner:
                while run_state.status not in TERMINAL_RUN_STATUSES and time.monotonic() < deadline:
                    if run_state.status is RunStatus.RUNNING:
                        run_step(deps, "check_run", run_id=run_state.run_id)
                    time.sleep(WAIT_POLL)
                    run_state = deps.store.get_run(run_state.run_id)
                    spinner.update(f"waiting for run {run_state.run_id} ({run_state.status.value})")
    result: dict[str, Any] = {"pipelineId": pipeline, "scheduleId": sched, "outcome": outcome.value,
                              "runId": run_state.run_id if run_state else None,
                              "status": run_state.status.value if run_state else None}
    failure = _failure(deps, run_state) if run_state and run_state.status in UNSUCCESSFUL_RUN_STATUSES else None
    if failure:
        result.update(failure)
    shadow = deps.is_shadow(pipeline)
    if shadow:  # dryRun: a READY period recorded WOULD_TRIGGER and started nothing
        result["shadow"] = True
    if as_json:
        emit_json(result)
    else:
        out.print(f"{pipeline}/{sched}: {outcome.value}" + (f" · run {result['runId']} {result['status']}"
                                                            if run_state else "")
                  + (" · shadow (dryRun): nothing started, see `interlock shadow-report`" if shadow else ""))
        if failure:
            out.print(f"failed ({failure['failureCategory'] or 'unknown category'}): "
                      f"{failure['failureMessage'] or 'no message recorded'} (see `interlock events {pipeline}`)")
        if outcome is Outcome.NOT_READY:
            ready = deps.store.get_readiness(pipeline)
            if ready:
                out.print(f"blocked by: {', '.join(ready.blocking)} (see `interlock evaluate {pipeline}`)")
    failed = outcome in (Outcome.NOT_READY, Outcome.GAVE_UP) or (
        run_state is not None and run_state.status in UNSUCCESSFUL_RUN_STATUSES)
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


def _failure(deps: Deps, run: RunState) -> dict[str, str | None]:
    """Why a run failed, from its period's run log (where the failing step recorded it)."""
    key = RunKey.of_run(run)
    entry = deps.store.get_run_log(run.pipeline_id, key.period, key.schedule)
    if entry is None or entry.run_id != run.run_id:
        return {"failureCategory": None, "failureMessage": None}
    category = entry.failure_category.value if entry.failure_category else None
    return {"failureCategory": category, "failureMessage": entry.failure_message}


@cli.command()
@click.argument("pipeline", required=False)
@click.option("--state", "states", metavar="STATES",
              help="Only pipelines in these states, a comma list: failed,running,blocked,completed,waiting.")
@click.option("--name-contains", "contains", metavar="TEXT", help="Only pipelines whose name contains TEXT.")
@click.option("--limit", default="100", show_default=True, metavar="N",
              help="Pipelines per page (1-1000), in name order.")
@click.option("--cursor", metavar="CURSOR", help="The page after the one that printed this cursor.")
@click.option("--json", "as_json", is_flag=True, help="Print a list of objects.")
@click.pass_obj
def status(obj: Context, pipeline: str | None, states: str | None, contains: str | None, limit: str,
           cursor: str | None, as_json: bool) -> None:
    """Per pipeline and schedule: this period's run, its state, the next check and the last readiness.

    One page of pipelines by name (--limit); when more follow, the cursor for the next page is
    printed on stderr (pass it as --cursor). The state filter reads the store's state index.
    """
    from rich.table import Table

    from interlock.errors import UnknownRun
    from interlock.periods import period_at
    from interlock.statusview import page, parse_limit, parse_states
    from interlock.steps.keys import advance_key

    deps = open_deps(obj, pipeline=pipeline)
    next_cursor = None
    with failing_cleanly("reading status"):
        if pipeline:
            pipelines = [deps.pipeline(pipeline)]
            state_of = {s.name: s.state for s in deps.store.list_statuses(after="", limit=1, contains=pipeline)
                        if s.name == pipeline}
        else:
            found = page(deps, parse_states(states), cursor, parse_limit(limit), contains or "")
            next_cursor = found.next_cursor
            state_of = {s.name: s.state for s in found.items}
            pipelines = []
            for row in found.items:
                try:
                    pipelines.append(deps.pipeline(row.name))
                except UnknownPipeline:  # deleted since the page was read
                    continue
        rows: list[dict[str, Any]] = []
        now = deps.clock.now()
        for config in pipelines:
            readiness = deps.store.get_readiness(config.name)
            for sched in config.schedule_list():
                period = period_at(config, sched, now).key
                entry = deps.store.get_run_log(config.name, period, sched.name)
                run_status = None
                if entry:
                    try:
                        run_status = deps.store.get_run(entry.run_id).status.value
                    except UnknownRun:  # expired since the run log named it
                        run_status = None
                due = deps.store.due_at(advance_key(config.name, sched.name))
                rows.append({
                    "pipelineId": config.name, "scheduleId": sched.name, "date": period,
                    "state": state_of.get(config.name),
                    "status": entry.status.value if entry else None, "runId": entry.run_id if entry else None,
                    "attempt": entry.attempt_number if entry else None, "runStatus": run_status,
                    "nextCheck": due.isoformat() if due else None,
                    "readiness": readiness.status.value if readiness else None,
                    "blocking": readiness.blocking if readiness else [],
                    "failureCategory": entry.failure_category.value if entry and entry.failure_category else None,
                    "failureMessage": entry.failure_message if entry else None,
                })
    if next_cursor:
        err.print(f"more pipelines follow: --cursor {next_cursor}", markup=False, highlight=False)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        out.print("No pipelines registered.")
        return
    table = Table()
    for column in ("pipeline", "state", "schedule", "date", "status", "attempt", "run", "readiness", "blocking",
                   "next check", "why it failed"):
        table.add_column(column)
    for r in rows:
        why = f"{r['failureCategory'] or '?'}: {(r['failureMessage'] or '')[:120]}" if r["failureMessage"] else ""
        table.add_row(r["pipelineId"], r["state"] or "", r["scheduleId"], r["date"], r["status"] or "—",
                      str(r["attempt"] or ""), r["runId"] or "", r["readiness"] or "", ", ".join(r["blocking"]),
                      (r["nextCheck"] or "")[:19], why)
    out.print(table)


@cli.command()
@click.argument("pipeline")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON.")
@click.pass_obj
def events(obj: Context, pipeline: str, limit: int, as_json: bool) -> None:
    """The latest events of PIPELINE, oldest first: every decision and why."""
    deps = open_deps(obj, pipeline=pipeline)
    with failing_cleanly("reading events"):
        records = deps.store.list_events(pipeline, limit)
    if as_json:
        emit_json([{"streamId": r.stream_id, **r.event.to_json()} for r in records])
        return
    if not records:
        err.print(f"no events for {pipeline!r}")
    for r in records:
        e = r.event
        parts = [e.timestamp.isoformat(timespec="seconds"), e.kind.value, e.status or "", e.trait_type or "",
                 e.run_id or "", e.message or ""]
        out.print("  ".join(p for p in parts if p), markup=False)


@cli.command()
@click.argument("pipeline")
@click.option("--period", help="A period key: a date (2026-03-02) for a daily schedule, a local start "
              "(2026-03-02T1400) for a cron one. Default: the current period.")
@click.option("--schedule", help="The schedule (default: the pipeline's first).")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@click.pass_obj
def explain(obj: Context, pipeline: str, period: str | None, schedule: str | None, as_json: bool) -> None:
    """Why PIPELINE did (or did not) run in a period: a one-line answer, then the timeline behind it."""
    from interlock.explain import explain as explain_period

    deps = open_deps(obj, pipeline=pipeline)
    with failing_cleanly("reading the period's records"):
        found = explain_period(deps, pipeline, period, schedule)
    if as_json:
        emit_json(found.to_json())
        return
    for line in found.lines():
        out.print(line, markup=False)


@cli.command()
@click.argument("run_id")
@click.option("--status", "result", type=click.Choice(["success", "failed"]), required=True)
@click.option("--metadata", "metadata_json", metavar="JSON", help="A JSON object merged into the run's metadata.")
@click.option("--message", help="What happened, in words.")
@click.option("--json", "as_json", is_flag=True, help="Print the finished run as JSON.")
@click.pass_obj
def complete(obj: Context, run_id: str, result: str, metadata_json: str | None, message: str | None,
             as_json: bool) -> None:
    """Report that RUN_ID's job finished (the completion callback for http-triggered jobs)."""
    from interlock.steps.runs import complete_run

    metadata: dict[str, Any] | None = None
    if metadata_json:
        try:
            metadata = json.loads(metadata_json)
        except ValueError as exc:
            fail_input(f"--metadata is not valid JSON: {exc}")
        if not isinstance(metadata, dict):
            fail_input("--metadata must be a JSON object")
    deps = open_deps(obj)
    with failing_cleanly("completing the run"):
        finished = complete_run(deps, run_id, result == "success", metadata, message)
    if as_json:
        emit_json(finished.to_json())
        return
    out.print(f"[green]✓[/green] run {run_id} is {finished.status.value}")


@cli.command()
@click.argument("pipeline", required=False)
@click.option("--id", "rerun_id", help="Start an existing PENDING rerun (e.g. one requested by drift monitoring).")
@click.option("--reason", help="Why the rerun is needed (required for a new rerun).")
@click.option("--date", help="The period to run again: YYYY-MM-DD, or YYYY-MM-DDTHHMM for a cron schedule "
                             "(default: the current one).")
@click.option("--schedule", help="Schedule (default: the pipeline's first).")
@click.option("--wait", is_flag=True, help="Follow the rerun's run until it finishes.")
@click.option("--force", is_flag=True, help="Rerun even though no trait result arrived after the period's last run.")
@click.option("--json", "as_json", is_flag=True, help="Print the rerun record as JSON.")
@click.pass_obj
def rerun(obj: Context, pipeline: str | None, rerun_id: str | None, reason: str | None, date: str | None,
          schedule: str | None, wait: bool, force: bool, as_json: bool) -> None:
    """Run PIPELINE again for a period (a new rerun), or start a pending rerun with --id."""
    from interlock.errors import UnknownRerun
    from interlock.steps.dispatch import InlineDispatcher
    from interlock.steps.registry import run_step
    from interlock.steps.requests import check_period_key
    from interlock.steps.reruns import request_rerun

    if (pipeline is None) == (rerun_id is None):
        fail_input("give either a PIPELINE (a new rerun, with --reason) or --id RERUN_ID (start a pending one)")
    if pipeline is not None and not reason:
        fail_input("--reason is required for a new rerun: say why it is needed")
    if rerun_id is not None and force:
        fail_input("--force applies to a new rerun (PIPELINE --reason ...); a pending rerun with --id needs none")
    if date is not None:
        try:
            check_period_key(date)  # the shape; whether the schedule has that period, request_rerun checks
        except ValueError as exc:
            fail_input(f"--date: {exc}")
    deps = InlineDispatcher(open_deps(obj, pipeline=pipeline), only={"rerun"}).deps  # the rerun it asks for starts here
    with failing_cleanly("rerunning"):
        if pipeline is not None:
            record = request_rerun(deps, pipeline, str(reason), date=date, schedule=schedule, force=force)
        else:
            found = deps.store.get_rerun(str(rerun_id))
            if found is None:
                raise UnknownRerun(str(rerun_id))
            run_step(deps, "rerun", rerun_id=found.rerun_id)
            record = found
        record = deps.store.get_rerun(record.rerun_id) or record
        deadline = time.monotonic() + 3600
        while wait and record.rerun_run_id and record.status in STARTED_RUN_STATUSES \
                and time.monotonic() < deadline:
            run_step(deps, "check_run", run_id=record.rerun_run_id)
            time.sleep(WAIT_POLL)
            record = deps.store.get_rerun(record.rerun_id) or record
    if as_json:
        emit_json(record.to_json())
    else:
        out.print(f"rerun {record.rerun_id} of {record.pipeline_id} for {record.original_date}: {record.status.value}"
                  + (f" (run {record.rerun_run_id})" if record.rerun_run_id else " (waiting until READY)"))
    sys.exit(EXIT_FAILED if record.status is RunStatus.FAILED else EXIT_OK)
