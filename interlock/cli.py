"""The ``interlock`` command.

Exit codes: 0 ok, 1 not ready / failed, 2 bad input (configuration errors, bad arguments).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console

from interlock import __version__
from interlock.config import ConfigInvalid, Project, load_project
from interlock.scaffold import ScaffoldError, init_project

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

out = Console(highlight=False, soft_wrap=True)
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
    Project:  init, validate
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


def main() -> None:
    cli(prog_name="interlock")


if __name__ == "__main__":
    main()
