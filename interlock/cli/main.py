"""The ``interlock`` command group.

Exit codes: 0 ok, 1 not ready / failed, 2 bad input (configuration errors, bad arguments).
"""

from __future__ import annotations

import click

from interlock import __version__
from interlock.cli.common import Context, Group


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="interlock", message="interlock version %(version)s")
@click.option("--config", "config", metavar="PATH", envvar="INTERLOCK_CONFIG",
              help="Project file (default: $INTERLOCK_CONFIG, else ./interlock.yaml).")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Interlock: evaluate a pipeline's preconditions, trigger it exactly once, watch the run.

    \b
    Start:     demo
    Project:   init, validate
    Pipelines: evaluate, push, run, rerun, status, events, complete
    Runtime:   worker, beat, serve, check, dead-letters
    Shadow:    shadow-report
    Archive:   db upgrade | downgrade | current, archive
    """
    ctx.obj = Context(config)


def main() -> None:
    import interlock.cli  # noqa: F401  (the package registers every command on the group)

    cli(prog_name="interlock")
