"""Project commands: ``init`` and ``validate``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from interlock.cli.common import EXIT_BAD_INPUT, Context, emit_json, err, fail_config, out
from interlock.cli.main import cli
from interlock.config import ConfigInvalid, load_project
from interlock.scaffold import ScaffoldError, init_project


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
