"""Runtime commands: ``worker`` and ``beat`` (Celery under the hood, the same config resolution)."""

from __future__ import annotations

import os
import socket
import time
import uuid

import click

from interlock import logformat, tracing
from interlock.cli.common import Context
from interlock.cli.main import cli

LOG_FORMAT = click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
    envvar="INTERLOCK_LOG_FORMAT",
    help="json: one JSON object per line, with pipeline, schedule, period, run id and trace id where known "
         "(also $INTERLOCK_LOG_FORMAT).")


def _celery_app(obj: Context, *, answering: bool = False):  # type: ignore[no-untyped-def]
    # Exits 2 with every configuration error before Celery starts; ``answering`` (a worker): a large
    # project's pipeline files may load while it starts, and errors in them stop it (Context.project).
    project = obj.project(answering=answering)
    os.environ["INTERLOCK_CONFIG"] = str(project.settings.config_path)  # for what Celery starts
    from workers.app import get_app

    return get_app(project)


@cli.command()
@click.option("--queues", "-Q", default=None,
              help="Comma-separated queues to consume (default: all of the step registry's, so one worker runs "
                   "a small deployment).")
@click.option("--concurrency", "-c", type=click.IntRange(1, 256), default=None,
              help="Worker processes (default: the number of CPUs).")
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@LOG_FORMAT
@click.pass_obj
def worker(obj: Context, queues: str | None, concurrency: int | None, loglevel: str, log_format: str) -> None:
    """Run a Celery worker for the given queues."""
    from interlock.steps.registry import queues as known_queues  # not at CLI start-up: it loads the step models

    known = known_queues()
    wanted = [q.strip() for q in queues.split(",") if q.strip()] if queues is not None else known
    unknown = sorted(set(wanted) - set(known))
    if unknown or not wanted:
        problem = f"unknown queue(s) {', '.join(unknown)}" if unknown else "no queue given"
        raise click.BadParameter(f"{problem}; known: {', '.join(known)}", param_hint="--queues")
    logformat.use(log_format)
    app = _celery_app(obj, answering=True)
    argv = ["worker", "-Q", ",".join(wanted), "-l", loglevel, "--without-gossip", "--without-mingle",
            "-n", f"interlock-{'-'.join(wanted)}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"]
    if concurrency:
        argv += ["-c", str(concurrency)]
    app.worker_main(argv)
    obj.exit_if_failed_late()


@cli.command()
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@LOG_FORMAT
@click.pass_obj
def beat(obj: Context, loglevel: str, log_format: str) -> None:
    """Run Celery Beat: the reconcile pass every few seconds, and archival (run exactly one)."""
    logformat.use(log_format)
    app = _celery_app(obj)
    import redis

    from workers.context import start_up

    # Registering the pipelines needs Redis: wait for it, as the workers wait for their broker,
    # rather than exit when Beat happens to start while Redis is restarting or unreachable.
    while True:
        try:
            start_up(app)
            break
        except redis.ConnectionError as exc:
            click.echo(f"beat: Redis unreachable ({exc}); trying again in 2 s", err=True)
            time.sleep(2)
    app.start(["beat", "-l", loglevel])


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default: from server.addr, else 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port (default: from server.addr, else 3000).")
@LOG_FORMAT
@click.pass_obj
def serve(obj: Context, host: str | None, port: int | None, log_format: str) -> None:
    """Run the HTTP API (OpenAPI docs at /docs); pushes and reruns go to the workers at once."""
    import uvicorn

    from interlock.api.app import create_app
    from interlock.api.protocol import uvicorn_options
    from interlock.cli.common import open_deps
    from interlock.config.project import ServerConfig
    from interlock.steps.deps import register_in_background

    logformat.use(log_format)
    tracing.setup("interlock-api")
    # It answers at once; the project's pipelines are registered meanwhile (those whose file changed).
    deps = open_deps(obj, to_workers=True, register=False, answering=True)
    register_in_background(deps.project, deps.store, "api")
    server = deps.project.config.server or ServerConfig()
    default_host, _, default_port = server.addr.rpartition(":")
    if log_format == "json":  # uvicorn's loggers then go through the root handler, as JSON lines
        logformat.configure_root()
    api = uvicorn.Server(uvicorn.Config(
        create_app(deps), host=host or default_host or "127.0.0.1", port=port or int(default_port), log_level="info",
        log_config=None if log_format == "json" else uvicorn.config.LOGGING_CONFIG, **uvicorn_options(server)))
    # Errors in pipeline files found after it started stop it the way Ctrl-C would, then it exits 2
    # (uvicorn re-raises a SIGTERM it handled, which would end the process before it could say so).
    obj.stop = lambda: setattr(api, "should_exit", True)
    api.run()
    obj.exit_if_failed_late()
