"""Queue ``archival``: copy the store's change stream to the Postgres archive."""

from __future__ import annotations

from workers.app import app
from workers.context import deps_for


@app.task(name="interlock.archive")
def archive() -> int:
    from interlock.archive import db
    from interlock.archive.archiver import Archiver
    from interlock.archive.queries import change_stream_name

    deps = deps_for(app)
    settings = deps.project.settings
    if not settings.database_url:
        return 0
    engine = db.make_engine(settings.database_url)
    try:
        archiver = Archiver(deps.store, engine, change_stream_name(settings.key_prefix))
        return archiver.run_once().records
    finally:
        engine.dispose()
