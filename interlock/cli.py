"""The ``interlock`` command.

Exit codes: 0 ok, 1 not ready / failed, 2 bad input (configuration errors, bad arguments).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console

from interlock import __version__
from interlock.config import ConfigInvalid, Project, load_project
from interlock.config.project import ENV_DATABASE_URL
from interlock.scaffold import ScaffoldError, init_project

if TYPE_CHECKING:
    from interlock.steps.deps import Deps
    from interlock.steps.evaluate import Evaluation

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

# Wide when piped (logs, CI) so tables are not cut to 80 columns.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Context:
    def __init__(self, config: str | None) -> None:
        self.config = config

    def project(self) -> Project:
        """Load the project or exit 2 with every configuration error, one per line."""
        try:
            return load_project(self.config)
        except ConfigInvalid as exc:
            fail_config(exc)


def fail_config(exc: ConfigInvalid) -> NoReturn:
    for error in exc.errors:
        err.print(str(error), markup=False)
    count = len(exc.errors)
    err.print(f"[red]{count} configuration error{'s' if count != 1 else ''}[/red]; fix them and run "
              "'interlock validate' again")
    sys.exit(EXIT_BAD_INPUT)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="interlock", message="interlock version %(version)s")
@click.option("--config", "config", metavar="PATH", envvar="INTERLOCK_CONFIG",
              help="Project file (default: $INTERLOCK_CONFIG, else ./interlock.yaml).")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Interlock: evaluate a pipeline's preconditions, trigger it exactly once, watch the run.

    \b
    Project:   init, validate
    Pipelines: evaluate, push
    Archive:   db upgrade | downgrade | current, archive
    """
    ctx.obj = Context(config)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def validate(obj: Context, as_json: bool) -> None:
    """Check the whole project (config, archetypes, calendars, pipelines); change nothing."""
    try:
        project = load_project(obj.config)
    except ConfigInvalid as exc:
        if as_json:
            emit_json({"valid": False, "errors": [e.to_json() for e in exc.errors]})
            sys.exit(EXIT_BAD_INPUT)
        fail_config(exc)
    summary: dict[str, Any] = {
        "valid": True,
        "config": str(project.settings.config_path),
        "pipelines": sorted(project.pipelines),
        "archetypes": sorted(project.archetypes),
        "calendars": sorted(project.calendars),
        "alertSinks": [a.type.value for a in project.config.alerts or []],
    }
    if as_json:
        emit_json(summary)
        return
    def count(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"
    out.print(f"[green]✓[/green] {project.settings.config_path} is valid: "
              f"{count(len(project.pipelines), 'pipeline')}, {count(len(project.archetypes), 'archetype')}, "
              f"{count(len(project.calendars), 'calendar')}, {count(len(summary['alertSinks']), 'alert sink')}")
    for name in summary["pipelines"]:
        pipeline = project.pipelines[name]
        trigger = pipeline.trigger.type.value if pipeline.trigger else "no trigger"
        schedules = ", ".join(s.name for s in pipeline.schedule_list())
        out.print(f"  {name}  archetype={pipeline.archetype}  trigger={trigger}  schedules={schedules}",
                  markup=False)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
def init(directory: Path) -> None:
    """Create a new project in DIRECTORY with a pipeline that can become READY."""
    try:
        init_project(directory)
    except ScaffoldError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(EXIT_BAD_INPUT)
    out.print(f"[green]✓[/green] Project created in {directory}")
    out.print("\nNext steps:")
    out.print(f"  cd {directory}")
    out.print("  interlock validate")


def open_deps(obj: Context) -> Deps:
    """Project + store + runner + alerts, with the project's pipelines registered in the store."""
    from interlock.alerts import AlertDispatcher, build_sinks
    from interlock.steps.deps import Deps, register_project_pipelines
    from interlock.store.redis import RedisStore

    project = obj.project()
    store = RedisStore.from_settings(project.settings)
    with failing_cleanly("connecting to the store"):
        store.ping()
        register_project_pipelines(project, store)
    sinks = build_sinks(project.config.alerts or [], project.root, console=sys.stderr)
    return Deps(project, store, alerts=AlertDispatcher(store, sinks))


def fail_input(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    sys.exit(EXIT_BAD_INPUT)


_STATUS_STYLE = {"PASS": "green", "FAIL": "red", "ERROR": "red bold", "STALE": "yellow"}


@cli.command()
@click.argument("pipeline")
@click.option("--schedule", help="Schedule to evaluate for (default: the pipeline's first).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def evaluate(obj: Context, pipeline: str, schedule: str | None, as_json: bool) -> None:
    """Evaluate PIPELINE's traits now and say whether it is READY (exit 0) or not (exit 1)."""
    from interlock.schedule import UnknownSchedule
    from interlock.steps.deps import UnknownArchetype, UnknownPipeline
    from interlock.steps.evaluate import evaluate as evaluate_step

    deps = open_deps(obj)
    try:
        with failing_cleanly("evaluating"):
            evaluation = evaluate_step(deps, pipeline, schedule)
    except (UnknownPipeline, UnknownArchetype, UnknownSchedule) as exc:
        known = ", ".join(sorted(deps.project.pipelines)) or "none"
        fail_input(f"{exc}" + (f" (pipelines: {known})" if isinstance(exc, UnknownPipeline) else ""))
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
@click.option("--ttl", type=int, help="Seconds the result stays valid (default: the trait's TTL; 0 = until replaced).")
@click.pass_obj
def push(obj: Context, pipeline: str, trait: str, status: str, value_json: str | None, reason: str | None,
         ttl: int | None) -> None:
    """Record a result for PIPELINE's TRAIT reported by an outside system (a marker, a check)."""
    from interlock.steps.deps import UnknownPipeline
    from interlock.steps.push import BadPush, push_trait

    value: dict[str, Any] | None = None
    if value_json is not None:
        try:
            value = json.loads(value_json)
        except ValueError as exc:
            fail_input(f"--value is not valid JSON: {exc}")
        if not isinstance(value, dict):
            fail_input(f"--value must be a JSON object, got {type(value).__name__}")
    deps = open_deps(obj)
    try:
        with failing_cleanly("pushing"):
            stored = push_trait(deps, pipeline, trait, status.upper() if status.lower() in ("pass", "fail")
                                else status, value=value, reason=reason, ttl=ttl)
    except (UnknownPipeline, BadPush) as exc:
        fail_input(str(exc))
    expiry = f"until {stored.expires_at.isoformat(timespec='seconds')}" if stored.expires_at else "until replaced"
    out.print(f"[green]✓[/green] {pipeline} · {trait} = {stored.status.value} (pushed, valid {expiry})")


def database_url(obj: Context) -> str:
    """``$INTERLOCK_DATABASE_URL``, else ``archiver.dsn`` of the project; exit 2 when neither is set."""
    url = os.environ.get(ENV_DATABASE_URL) or obj.project().settings.database_url
    if not url:
        err.print("[red]error:[/red] no archive database configured: set INTERLOCK_DATABASE_URL "
                  "or archiver.dsn in interlock.yaml")
        sys.exit(EXIT_BAD_INPUT)
    return url


@cli.group()
def db() -> None:
    """Manage the Postgres archive schema (Alembic migrations)."""


@db.command("upgrade")
@click.argument("revision", default="head")
@click.pass_obj
def db_upgrade(obj: Context, revision: str) -> None:
    """Create or migrate the archive schema up to REVISION (default: head)."""
    from interlock.archive import db as archive_db

    engine = archive_db.make_engine(database_url(obj))
    with failing_cleanly("migrating the archive"):
        archive_db.upgrade(engine, revision)
    out.print(f"[green]✓[/green] archive schema at revision {archive_db.current_revision(engine)} "
              f"({engine.url.render_as_string(hide_password=True)})")


@db.command("downgrade")
@click.argument("revision", default="base")
@click.pass_obj
def db_downgrade(obj: Context, revision: str) -> None:
    """Migrate the archive schema down to REVISION (default: base, which drops every table)."""
    from interlock.archive import db as archive_db

    engine = archive_db.make_engine(database_url(obj))
    with failing_cleanly("migrating the archive"):
        archive_db.downgrade(engine, revision)
    out.print(f"[green]✓[/green] archive schema at revision {archive_db.current_revision(engine) or 'base'}")


@db.command("current")
@click.pass_obj
def db_current(obj: Context) -> None:
    """Print the archive schema's revision and the newest one available."""
    from interlock.archive import db as archive_db

    engine = archive_db.make_engine(database_url(obj))
    with failing_cleanly("reading the archive"):
        current = archive_db.current_revision(engine)
    head = archive_db.head_revision()
    out.print(f"current: {current or 'none (run: interlock db upgrade)'}  head: {head}")
    if current != head:
        sys.exit(EXIT_FAILED)


@cli.command()
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000),
              help="Changes applied per database transaction.")
@click.option("--throttle", default=0.0, show_default=True, type=click.FloatRange(0, 60),
              help="Seconds to pause between batches, to spare a busy database.")
@click.option("--follow", is_flag=True, help="Keep archiving every archiver.interval instead of exiting when done.")
@click.pass_obj
def archive(obj: Context, batch_size: int, throttle: float, follow: bool) -> None:
    """Copy everything new in the store to the Postgres archive, each record exactly once."""
    from interlock.archive import db as archive_db
    from interlock.archive.archiver import Archiver, ArchiveResult
    from interlock.store.redis import RedisStore

    project = obj.project()
    engine = archive_db.make_engine(database_url(obj))
    store = RedisStore.from_settings(project.settings)
    archiver = Archiver(store, engine, f"{project.settings.key_prefix}changes", batch_size=batch_size,
                        throttle=throttle)

    def progress(result: ArchiveResult) -> None:
        if result.batches % 10 == 0:
            err.print(f"  archived {result.records:,} changes (cursor {result.cursor})")

    with failing_cleanly("archiving"):
        while True:
            started = time.monotonic()
            result = archiver.run_once(progress)
            out.print(f"archived {result.records:,} changes in {result.batches} batches "
                      f"({time.monotonic() - started:.2f}s); cursor {result.cursor or 'at start'}")
            if not follow:
                break
            time.sleep(project.settings.archive_interval.total_seconds())


@contextmanager
def failing_cleanly(doing: str) -> Iterator[None]:
    """Turn a connection or database failure into one line and exit 1, not a traceback."""
    import redis
    import sqlalchemy.exc

    try:
        yield
    except sqlalchemy.exc.OperationalError as exc:
        err.print(f"[red]error:[/red] {doing}: cannot reach the database: {str(exc.orig).strip().splitlines()[0]}")
        sys.exit(EXIT_FAILED)
    except redis.RedisError as exc:
        err.print(f"[red]error:[/red] {doing}: cannot reach Redis: {exc}")
        sys.exit(EXIT_FAILED)


def main() -> None:
    cli(prog_name="interlock")


if __name__ == "__main__":
    main()
