"""Celery Beat entries: what runs periodically and how often.

Run exactly one Beat per deployment. (A second one is harmless — reconcile takes a Redis lock
and every step is idempotent — but it is wasted work.)

* ``reconcile`` every ``watcher.reconcileInterval`` (default 2 s): dispatch what the due index
  says is due. This is the level-triggered loop that recovers from any lost message or crash.
* ``archive`` every ``archiver.interval`` when ``archiver.enabled``: copy new changes to Postgres.
"""

from __future__ import annotations

from typing import Any

from interlock.config import Project


def entries(project: Project) -> dict[str, dict[str, Any]]:
    settings = project.settings
    schedule: dict[str, dict[str, Any]] = {
        "reconcile": {
            "task": "interlock.reconcile",
            "schedule": settings.reconcile_interval.total_seconds(),
            "options": {"queue": "schedule", "expires": settings.reconcile_interval.total_seconds() * 5},
        },
    }
    archiver = project.config.archiver
    if archiver and archiver.enabled:
        schedule["archive"] = {
            "task": "interlock.archive",
            "schedule": settings.archive_interval.total_seconds(),
            "options": {"queue": "archival"},
        }
    return schedule
