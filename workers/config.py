"""Celery settings derived from the project (no side effects: the CLI imports this to send tasks)."""

from __future__ import annotations

import tempfile
import zlib
from pathlib import Path
from typing import Any

import beat_schedule
from interlock.config import Project
from interlock.deadletters import broker_prefix
from interlock.steps.registry import BROKER_PRIORITY_STEPS, STEPS, Priority

# Redis-broker priorities of the fast path and of routine work (see the registry's Priority).
FAST = int(Priority.FAST)
ROUTINE = int(Priority.ROUTINE)


def celery_config(project: Project) -> dict[str, Any]:
    settings = project.settings
    prefix = broker_prefix(settings.key_prefix)
    # A Sentinel group: redis_url is kombu's sentinel:// form; the group's name goes in the options.
    sentinel = settings.redis_sentinel.transport_options() if settings.redis_sentinel else {}
    return {
        "broker_url": settings.redis_url,
        "result_backend": settings.redis_url,
        "broker_transport_options": {**sentinel, "global_keyprefix": prefix, "visibility_timeout": 3600,
                                     "queue_order_strategy": "priority", "priority_steps": list(BROKER_PRIORITY_STEPS),
                                     "sep": ":",
                                     # workers/redis_transport.py keeps entries that are not messages here
                                     "dead_letter_prefix": settings.key_prefix},
        "result_backend_transport_options": {**sentinel, "global_keyprefix": prefix},
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": STEPS["advance"].queue,
        # Checks every message before it runs; dead-letters what cannot or must not run.
        "worker_consumer": "workers.guard:Consumer",
        "task_routes": {step.task_name: {"queue": step.queue} for step in STEPS.values()},
        "broker_connection_retry_on_startup": True,
        # Task events cost four extra broker publishes per task hop (sent, received, started,
        # succeeded): a third of a cycle's broker traffic. They are off until someone watches:
        # Flower switches them on at runtime (its `enable_events` option, on by default) and
        # `celery -A workers.app control enable_events` does the same by hand.
        "worker_send_task_events": False,
        "task_send_sent_event": False,
        "beat_schedule": beat_schedule.entries(project),
        # Beat's own bookkeeping file, one per key prefix (the schedule itself comes from config).
        "beat_schedule_filename": str(Path(tempfile.gettempdir()) / f"interlock-beat-{zlib.crc32(prefix.encode()):x}"),
        "timezone": "UTC",
    }
