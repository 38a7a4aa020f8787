"""The archive step: copy what is new in the store's change stream to the Postgres archive.

Beat asks for it every ``archiver.interval`` when ``archiver.enabled``; each call drains what is
there (:class:`interlock.archive.archiver.Archiver`: one transaction per batch, cursor included,
so a crash replays nothing twice). With no ``database_url`` there is nowhere to copy to: 0.
"""

from __future__ import annotations

from interlock.steps.deps import Deps


def archive(deps: Deps) -> int:
    """Archive every change not archived yet; return how many records were copied."""
    settings = deps.project.settings
    if not settings.database_url:
        return 0
    # SQLAlchemy and psycopg2 are loaded by the processes that archive, not by every step's importer.
    from interlock.archive import db
    from interlock.archive.archiver import Archiver
    from interlock.archive.queries import change_stream_name

    engine = db.make_engine(settings.database_url)
    try:
        return Archiver(deps.store, engine, change_stream_name(settings.key_prefix)).run_once().records
    finally:
        engine.dispose()
