"""Archive commands: ``db upgrade|downgrade|current`` and ``archive``."""

from __future__ import annotations

import sys
import time

import click

from interlock.cli.common import EXIT_FAILED, Context, database_url, err, failing_cleanly, out
from interlock.cli.main import cli


@cli.group()
def db() -> None:
    """Manage the Postgres archive schema (Alembic migrations)."""


@db.command("upgrade")
@click.argument("revision", default="head")
@click.pass_obj
def db_upgrade(obj: Context, revision: str) -> None:
    """Create or migrate the archive schema up to REVISION (default: head)."""
    _migrate(obj, revision, downgrade=False)


@db.command("downgrade")
@click.argument("revision", default="base")
@click.pass_obj
def db_downgrade(obj: Context, revision: str) -> None:
    """Migrate the archive schema down to REVISION (default: base, which drops every table)."""
    _migrate(obj, revision, downgrade=True)


def _migrate(obj: Context, revision: str, *, downgrade: bool) -> None:
    from interlock.archive import db as archive_db

    engine = archive_db.make_engine(database_url(obj))
    with failing_cleanly("migrating the archive"):
        (archive_db.downgrade if downgrade else archive_db.upgrade)(engine, revision)
    where = "" if downgrade else f" ({engine.url.render_as_string(hide_password=True)})"
    out.print(f"[green]✓[/green] archive schema at revision {archive_db.current_revision(engine) or 'base'}{where}")


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
    from interlock.archive.queries import change_stream_name
    from interlock.store.factory import open_store

    project = obj.project()
    engine = archive_db.make_engine(database_url(obj))
    store = open_store(project)
    archiver = Archiver(store, engine, change_stream_name(project.settings.key_prefix), batch_size=batch_size,
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
