"""The archive step: copy what is new in the store's change stream to the Postgres archive.

Beat asks for it every ``archiver.interval`` when ``archiver.enabled``; each call drains what is
there (:class:`interlock.archive.archiver.Archiver`: one transaction per batch, cursor included,
so a crash replays nothing twice). With no ``database_url`` there is nowhere to copy to: 0.

Before copying it measures the lag (:func:`check_lag`): the change stream is not trimmed at its cap
while an archive is configured, so a lagging archiver loses nothing, and a lag past
``archiver.lagAlertShare`` of ``archiver.streamCap`` raises ``archive_lagging`` once per episode
(docs/reliability.md, "Archive path").
"""

from __future__ import annotations

import logging

from interlock.model import Alert, AlertLevel
from interlock.steps.deps import Deps

log = logging.getLogger(__name__)

# Store value: "1" while the archiver lags past the alert share (one alert per episode), else "0".
LAGGING_KEY = "archive-lagging"


def archive(deps: Deps) -> int:
    """Archive every change not archived yet; return how many records were copied."""
    settings = deps.project.settings
    if not settings.database_url:
        return 0
    check_lag(deps)  # first: an archive that cannot be reached is lagging too
    # SQLAlchemy and psycopg2 are loaded by the processes that archive, not by every step's importer.
    from interlock.archive import db
    from interlock.archive.archiver import Archiver
    from interlock.archive.queries import change_stream_name

    engine = db.make_engine(settings.database_url)
    try:
        return Archiver(deps.store, engine, change_stream_name(settings.key_prefix)).run_once().records
    finally:
        engine.dispose()


def lag_threshold(deps: Deps) -> int:
    """The backlog (changes) at which the archiver counts as lagging."""
    settings = deps.project.settings
    return max(1, int(settings.archive_stream_cap * settings.archive_lag_share))


def check_lag(deps: Deps) -> int:
    """Measure the archiver's backlog; raise ``archive_lagging`` when it starts an episode. Returns the backlog."""
    settings = deps.project.settings
    lag = deps.store.change_backlog()
    threshold = lag_threshold(deps)
    lagging = lag >= threshold
    was = deps.store.get_value(LAGGING_KEY) == "1"
    if lagging and not was:
        deps.store.put_value(LAGGING_KEY, "1")
        log.warning("archive: %d changes not archived yet (alert at %d, cap %d)", lag, threshold,
                    settings.archive_stream_cap)
        deps.alerts.fire(Alert(
            level=AlertLevel.ERROR, alert_type="archive_lagging", timestamp=deps.clock.now(),
            message=(f"The archiver is {lag} changes behind ({lag * 100 // settings.archive_stream_cap}% of "
                     f"archiver.streamCap {settings.archive_stream_cap}); the change stream keeps growing until "
                     "it catches up. Check the archival worker and PostgreSQL."),
            details={"lag": lag, "threshold": threshold, "cap": settings.archive_stream_cap}))
    elif was and not lagging:
        deps.store.put_value(LAGGING_KEY, "0")
        log.info("archive: caught up (%d changes behind, alert at %d)", lag, threshold)
    return lag


def archive_gauges(deps: Deps) -> dict[str, float]:
    """``interlock_archive_lag_entries`` and ``interlock_archive_stream_cap`` for ``GET /metrics``.

    Only with an archive configured on Redis (XLEN is one cheap call; DynamoDB's feed would need a count).
    """
    from interlock.config.project import Provider

    settings = deps.project.settings
    if not settings.database_url or settings.provider is not Provider.REDIS:
        return {}
    return {"interlock_archive_lag_entries": float(deps.store.change_backlog()),
            "interlock_archive_stream_cap": float(settings.archive_stream_cap)}
