"""Runtime commands: ``worker`` and ``beat`` (Celery under the hood, the same config resolution)."""

from __future__ import annotations

import os
import socket
import uuid

import click

from interlock.cli.common import Context
from interlock.cli.main import cli
from interlock.steps.dispatch import QUEUES

ALL_QUEUES = sorted(set(QUEUES.values()))


def _celery_app(obj: Context):  # type: ignore[no-untyped-def]
    project = obj.project()  # exits 2 with every configuration error before Celery starts
    os.environ["INTERLOCK_CONFIG"] = str(project.settings.config_path)
    from workers.app import app

    return app


@cli.command()
@click.option("--queues", "-Q", default=",".join(ALL_QUEUES), show_default=True,
              help="Comma-separated queues to consume (default: all, so one worker runs a small deployment).")
@click.option("--concurrency", "-c", type=click.IntRange(1, 256), default=None,
              help="Worker processes (default: the number of CPUs).")
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.pass_obj
def worker(obj: Context, queues: str, concurrency: int | None, loglevel: str) -> None:
    """Run a Celery worker for the given queues."""
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - set(ALL_QUEUES))
    if unknown:
        raise click.BadParameter(f"unknown queue(s) {', '.join(unknown)}; known: {', '.join(ALL_QUEUES)}",
                                 param_hint="--queues")
    app = _celery_app(obj)
    argv = ["worker", "-Q", ",".join(wanted), "-l", loglevel, "--without-gossip", "--without-mingle",
            "-n", f"interlock-{'-'.join(wanted)}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"]
    if concurrency:
        argv += ["-c", str(concurrency)]
    app.worker_main(argv)


@cli.command()
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.pass_obj
def beat(obj: Context, loglevel: str) -> None:
    """Run Celery Beat: the reconcile pass every few seconds, and archival (run exactly one)."""
    app = _celery_app(obj)
    from workers.context import start_up

    start_up(app)
    app.start(["beat", "-l", loglevel])
