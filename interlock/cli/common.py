"""What every command shares: the project context, output consoles, exit codes, error exits."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape

from interlock.config import ConfigInvalid, Project, open_project
from interlock.config.project import ENV_DATABASE_URL
from interlock.errors import BadInput, Conflict, DomainError, NotFound

if TYPE_CHECKING:
    from interlock.steps.deps import Deps

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

# The exit code of each family of domain errors (interlock.errors), most specific first. All are
# the caller's to fix, so all are "bad input": naming an unknown pipeline, schedule or run, a value
# that is not acceptable, or asking for what the state forbids (completing a finished run).
DOMAIN_EXIT: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, EXIT_BAD_INPUT),
    (BadInput, EXIT_BAD_INPUT),
    (Conflict, EXIT_BAD_INPUT),
    (DomainError, EXIT_BAD_INPUT),
)

# Wide when piped (logs, CI) so tables are not cut to 80 columns.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Context:
    def __init__(self, config: str | None) -> None:
        self.config = config
        # Errors in the pipeline files of a process that answered while they loaded (see project()),
        # and how that process asks itself to stop (default: SIGTERM, see stop_late).
        self.failed_late: ConfigInvalid | None = None
        self.stop: Callable[[], None] | None = None

    def project(self, *, answering: bool = False) -> Project:
        """Open the project or exit 2 with every configuration error, one per line.

        Through the project index (interlock/config/index.py): the pipeline files are stat-ed, and
        read only when they changed or a command asks for them. ``answering``: a process that
        answers while a large project's pipeline files load (``interlock serve``, a worker; see
        ``open_project``'s ``failed``); errors found in them then stop it (:meth:`stop_late`).
        """
        try:
            return open_project(self.config, warn=lambda message: err.print(f"[yellow]warning:[/yellow] "
                                                                           f"{escape(message)}"),
                                failed=self.stop_late if answering else None)
        except ConfigInvalid as exc:
            fail_config(exc)

    def stop_late(self, exc: ConfigInvalid) -> None:
        """Print every error in the pipeline files and stop this process, which exits 2 (:meth:`exit_if_failed_late`).

        Runs on the loading thread. ``self.stop`` when the process set one (``interlock serve``);
        otherwise SIGTERM, on which a Celery worker shuts down warm once its handler is installed;
        before that, nothing has started that needs stopping.
        """
        self.failed_late = exc
        for error in exc.errors:
            err.print(str(error), markup=False)
        count = len(exc.errors)
        err.print(f"[red]{count} configuration error{'s' if count != 1 else ''}[/red] in the pipeline files; "
                  "stopping: fix them and run 'interlock validate'")
        if self.stop is not None:
            self.stop()
            return
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            sys.stderr.flush()
            os._exit(EXIT_BAD_INPUT)
        os.kill(os.getpid(), signal.SIGTERM)

    def exit_if_failed_late(self) -> None:
        if self.failed_late is not None:
            sys.exit(EXIT_BAD_INPUT)


def fail_config(exc: ConfigInvalid) -> NoReturn:
    for error in exc.errors:
        err.print(str(error), markup=False)
    count = len(exc.errors)
    err.print(f"[red]{count} configuration error{'s' if count != 1 else ''}[/red]; fix them and run "
              "'interlock validate' again")
    sys.exit(EXIT_BAD_INPUT)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def fail_input(message: str) -> NoReturn:
    # The message quotes what the user typed ("no trait '[/red]x'"): escaped, it cannot be markup.
    err.print(f"[red]error:[/red] {escape(message)}", markup=True, highlight=False)
    sys.exit(EXIT_BAD_INPUT)


def fail_domain(exc: DomainError) -> NoReturn:
    """The one place a domain error becomes CLI output: its message on stderr and its exit code."""
    err.print("[red]error:[/red] ", end="")
    err.print(exc.message, markup=False, highlight=False)
    sys.exit(next(code for family, code in DOMAIN_EXIT if isinstance(exc, family)))


class Group(click.Group):
    """The command group: a domain error escaping any command exits through :func:`fail_domain`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            fail_domain(exc)



def open_deps(obj: Context, *, to_workers: bool = False, pipeline: str | None = None,
              register: bool = True, answering: bool = False) -> Deps:
    """Project + store + runner + alerts, with the project's pipelines registered in the store.

    ``pipeline``: the command is about this one pipeline, so only it is registered (and read).
    Registration writes only what changed since (interlock.steps.deps.register_project_pipelines).
    ``register=False``: the caller registers (``interlock serve`` does it in the background).
    ``answering``: see :meth:`Context.project`.

    Console alerts go to stderr, away from the command's own output. ``to_workers``: the steps
    these Deps ask for go to the workers (:func:`workers.context.client_dispatcher`: Celery with
    ``provider: redis``; with ``provider: dynamodb`` the Lambdas react to the store by themselves);
    otherwise they are only recorded, left to the due index.
    """
    from interlock.steps import epoch
    from interlock.steps.deps import build_deps, register_project_pipelines
    from interlock.store.factory import open_store

    project = obj.project(answering=answering)
    dispatch = None
    if to_workers:
        from workers.context import client_dispatcher

        dispatch = client_dispatcher(project)
    with failing_cleanly("connecting to the store"):
        store = open_store(project)
        store.ping()
        deps = build_deps(project, dispatch, store=store, console=sys.stderr)
        epoch.verify(deps)  # before registering: see steps/epoch.py
        if register:
            register_project_pipelines(project, store, None if pipeline is None else [pipeline])
    return deps


@contextmanager
def failing_cleanly(doing: str) -> Iterator[None]:
    """Turn a connection or database failure into one line and exit 1, not a traceback."""
    import redis

    try:
        yield
    except redis.RedisError as exc:
        err.print(f"[red]error:[/red] {doing}: cannot reach Redis: {exc}")
        sys.exit(EXIT_FAILED)
    except Exception as exc:
        # sqlalchemy is imported only by the commands that use the archive; do not load it here.
        sa_exc = sys.modules.get("sqlalchemy.exc")
        if sa_exc is not None and isinstance(exc, sa_exc.OperationalError):
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            err.print(f"[red]error:[/red] {doing}: cannot reach the database: {first}")
            sys.exit(EXIT_FAILED)
        # Likewise botocore, loaded only when provider is dynamodb.
        bc_exc = sys.modules.get("botocore.exceptions")
        if bc_exc is not None and isinstance(exc, bc_exc.BotoCoreError | bc_exc.ClientError):
            err.print(f"[red]error:[/red] {doing}: DynamoDB refused or could not be reached: {exc}")
            sys.exit(EXIT_FAILED)
        raise


def database_url(obj: Context) -> str:
    """``$INTERLOCK_DATABASE_URL``, else ``archiver.dsn`` of the project; exit 2 when neither is set."""
    url = os.environ.get(ENV_DATABASE_URL) or obj.project().settings.database_url
    if not url:
        err.print("[red]error:[/red] no archive database configured: set INTERLOCK_DATABASE_URL "
                  "or archiver.dsn in interlock.yaml")
        sys.exit(EXIT_BAD_INPUT)
    return url
