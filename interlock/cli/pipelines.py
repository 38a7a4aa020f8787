"""Pipeline commands: ``evaluate`` and ``push``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from interlock.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Context,
    emit_json,
    fail_input,
    failing_cleanly,
    open_deps,
    out,
)
from interlock.cli.main import cli

if TYPE_CHECKING:
    from interlock.steps.evaluate import Evaluation

_STATUS_STYLE = {"PASS": "green", "FAIL": "red", "ERROR": "red bold", "STALE": "yellow"}


@cli.command()
@click.argument("pipeline")
@click.option("--schedule", help="Schedule to evaluate for (default: the pipeline's first).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def evaluate(obj: Context, pipeline: str, schedule: str | None, as_json: bool) -> None:
    """Evaluate PIPELINE's traits now and say whether it is READY (exit 0) or not (exit 1)."""
    from interlock.steps.evaluate import evaluate as evaluate_step

    deps = open_deps(obj, pipeline=pipeline)
    with failing_cleanly("evaluating"):
        evaluation = evaluate_step(deps, pipeline, schedule)
    result = evaluation.result
    if as_json:
        emit_json(result.to_json())
    else:
        print_readiness(evaluation)
    sys.exit(EXIT_OK if evaluation.ready else EXIT_FAILED)


def print_readiness(evaluation: Evaluation) -> None:
    from rich.table import Table

    result = evaluation.result
    table = Table(title=f"{result.pipeline_id} · schedule {evaluation.schedule} · period {evaluation.period}",
                  title_justify="left")
    for column in ("trait", "required", "status", "value", "reason", "duration", "source"):
        table.add_column(column)
    for e in result.traits:
        style = _STATUS_STYLE.get(e.status.value, "")
        value = json.dumps(e.value, separators=(",", ":")) if e.value else ""
        duration = "cached" if e.cached else (f"{e.duration_ms:.0f} ms" if e.duration_ms is not None else "")
        reason = e.reason or ""
        if e.failure_category:
            reason = f"{reason} [{e.failure_category.value}]"
        status = f"[{style}]{e.status.value}[/{style}]" if style else e.status.value
        required = "yes" if evaluation.required.get(e.trait_type) else "no"
        table.add_row(e.trait_type, required, status, value, reason, duration, e.source or "")
    out.print(table)
    if evaluation.ready:
        out.print("[green bold]READY[/green bold]" + (f" (not passing: {', '.join(result.failing)})"
                                                       if result.failing else ""))
    else:
        out.print(f"[red bold]NOT READY[/red bold] — blocked by: {', '.join(result.blocking)}")


@cli.command()
@click.argument("pipeline")
@click.argument("trait")
@click.option("--status", required=True, help="PASS or FAIL.")
@click.option("--value", "value_json", metavar="JSON", help="A JSON object with the values behind the result.")
@click.option("--reason", help="Why, in words.")
@click.option("--ttl", type=int, help="Seconds the result stays valid, 1 to 31622400 (366 days); "
              "default: the trait's TTL.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored result as JSON.")
@click.pass_obj
def push(obj: Context, pipeline: str, trait: str, status: str, value_json: str | None, reason: str | None,
         ttl: int | None, as_json: bool) -> None:
    """Record a result for PIPELINE's TRAIT reported by an outside system (a marker, a check)."""
    from interlock import strictjson
    from interlock.steps.dispatch import request_advance
    from interlock.steps.push import push_trait

    value: dict[str, Any] | None = None
    if value_json is not None:
        try:
            value = strictjson.loads(value_json)  # as the API reads its bodies: NaN, duplicate keys... refused
        except strictjson.NotStrictJson as exc:
            fail_input(f"--value is not valid JSON: {exc}")
        if not isinstance(value, dict):
            fail_input(f"--value must be a JSON object, got {type(value).__name__}")
    deps = open_deps(obj, to_workers=True, pipeline=pipeline)
    with failing_cleanly("pushing"):
        stored = push_trait(deps, pipeline, trait, status.upper() if status.lower() in ("pass", "fail")
                            else status, value=value, reason=reason, ttl=ttl)
    from interlock import correlation

    with failing_cleanly("asking the workers to evaluate"), correlation.pushed():  # starts the push-to-trigger clock
        request_advance(deps, pipeline)  # the fast path: the workers look at it now (durably: due now too)
    if as_json:
        emit_json(stored.to_json())
        return
    expiry = f"until {stored.expires_at.isoformat(timespec='seconds')}" if stored.expires_at else "until replaced"
    out.print(f"[green]✓[/green] {pipeline} · {trait} = {stored.status.value} (pushed, valid {expiry})")
