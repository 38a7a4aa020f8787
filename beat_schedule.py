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
from interlock.steps.registry import STEPS


def entries(project: Project) -> dict[str, dict[str, Any]]:
    settings = project.settings
    reconcile = settings.reconcile_interval.total_seconds()
    # A reconcile pass older than a few intervals is superseded by the next one: let it expire.
    schedule = {"reconcile": _entry("reconcile", reconcile, expires=reconcile * 5)}
    archiver = project.config.archiver
    if archiver and archiver.enabled:
        schedule["archive"] = _entry("archive", settings.archive_interval.total_seconds())
    return schedule


def _entry(name: str, every: float, **options: Any) -> dict[str, Any]:
    """Beat's entry for step ``name`` every ``every`` seconds, routed and ranked as the registry says."""
    step = STEPS[name]
    return {"task": step.task_name, "schedule": every,
            "options": {"queue": step.queue, "priority": int(step.priority), **options}}
