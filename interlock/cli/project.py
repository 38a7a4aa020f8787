"""Project commands: ``init`` and ``validate``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from interlock.cli.common import EXIT_BAD_INPUT, Context, emit_json, err, fail_config, out
from interlock.cli.main import cli
from interlock.config import ConfigError, ConfigInvalid, load_project
from interlock.scaffold import ScaffoldError, init_project


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--strict", is_flag=True,
              help="Treat warnings (files skipped, fields ignored, ${INTERLOCK_*} variables unset) as errors.")
@click.pass_obj
def validate(obj: Context, as_json: bool, strict: bool) -> None:
    """Check the whole project (config, archetypes, calendars, pipelines); change nothing.

    Warnings are printed like errors (FILE:LINE: FIELD.PATH: reason) and exit 0; with --strict they
    are errors and exit 2.
    """
    # A large project is validated on every core (interlock.config.loader); a terminal sees the count.
    shown = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if total >= 1000:
            err.file.write(f"\rvalidating pipelines: {done}/{total}" + ("\r\033[K" if done == total else ""))
            err.file.flush()

    try:
        project = load_project(obj.config, progress=progress if shown else None)
    except ConfigInvalid as exc:
        invalid(exc.errors, exc.warnings, as_json, strict)
    if strict and project.warnings:
        invalid([], project.warnings, as_json, strict)
    summary: dict[str, Any] = {
        "valid": True,
        "config": str(project.settings.config_path),
        "pipelines": sorted(project.pipelines),
        "archetypes": sorted(project.archetypes),
        "calendars": sorted(project.calendars),
        "alertSinks": [a.type.value for a in project.config.alerts or []],
        "warnings": [w.to_json() for w in project.warnings],
    }
    if as_json:
        emit_json(summary)
        return
    print_warnings(project.warnings)
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


def invalid(errors: list[ConfigError], warnings: list[ConfigError], as_json: bool, strict: bool) -> NoReturn:
    """Report a project that does not validate and exit 2; with ``strict`` its warnings are errors."""
    if strict:
        errors, warnings = errors + warnings, []
    if as_json:
        emit_json({"valid": False, "errors": [e.to_json() for e in errors],
                   "warnings": [w.to_json() for w in warnings]})
        sys.exit(EXIT_BAD_INPUT)
    print_warnings(warnings)
    fail_config(ConfigInvalid(errors))


def print_warnings(warnings: list[ConfigError]) -> None:
    """One line per warning, in the errors' format, then how many and what --strict does with them."""
    for warning in warnings:
        err.print(str(warning), markup=False)
    if warnings:
        count = len(warnings)
        err.print(f"[yellow]{count} warning{'s' if count != 1 else ''}[/yellow]; "
                  "'interlock validate --strict' treats them as errors")


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--name", help="The project's name in its Redis key prefix interlock:NAME: (default: the folder's name).")
def init(directory: Path, name: str | None) -> None:
    """Create a new project in DIRECTORY with a pipeline that can become READY.

    Its keys live under a prefix of its own, so projects sharing one Redis stay apart.
    """
    try:
        init_project(directory, name)
    except ScaffoldError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(EXIT_BAD_INPUT)
    out.print(f"[green]✓[/green] Project created in {directory}")
    out.print("\nNext steps:")
    out.print(f"  cd {directory}")
    out.print("  interlock validate")
