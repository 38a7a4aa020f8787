"""The Celery app, configured from interlock.yaml / the environment like every component.

``celery -A workers.app worker`` and ``interlock worker`` both land here: the project is found
with ``--config`` / ``$INTERLOCK_CONFIG`` / ``./interlock.yaml`` and ``$INTERLOCK_REDIS_URL``
overrides the broker. Broker keys live under the configured key prefix (kombu's
``global_keyprefix``), so two deployments or two test runs sharing one Redis never see each
other's tasks.

Reliability settings: late acks and reject-on-worker-lost (a task whose worker dies is delivered
again; every step is idempotent), prefetch 1 (a slow trigger does not hold other tasks hostage),
JSON only. No countdown/ETA tasks anywhere: delays are due times in the store.

Importing this module has no side effect: the app (with the project it is configured from and the
kombu transport fix) is made on first use, by :func:`get_app` or by reading ``workers.app.app``.
"""

from __future__ import annotations

import logging
import threading

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    worker_process_init,
    worker_process_shutdown,
)

from interlock import logformat, tracing
from interlock.config import Project, open_project
from workers import redis_transport
from workers.config import celery_config

# One module registers every step's task from the step registry.
TASK_MODULES = ["workers.tasks"]


def make_app(project: Project | None = None) -> Celery:
    """A Celery app for ``project`` (default: the one ``--config`` / ``$INTERLOCK_CONFIG`` names).

    Also installs the Redis transport fix (:mod:`workers.redis_transport`, idempotent): a worker
    that loses Redis mid-task reconnects instead of exiting.
    """
    redis_transport.install()
    project = project or open_project()
    celery = Celery("interlock", include=TASK_MODULES)
    celery.conf.update(celery_config(project))
    celery.conf.interlock_project = project
    return celery


_app: Celery | None = None
_app_lock = threading.Lock()


def get_app(project: Project | None = None) -> Celery:
    """This process's app, made by :func:`make_app` on the first call; later calls return it.

    ``project`` is used by the first call only (``interlock worker`` / ``beat`` pass the project
    they loaded; ``celery -A workers.app`` lets the app find it).
    """
    global _app
    with _app_lock:
        if _app is None:
            _app = make_app(project)
        return _app


def __getattr__(name: str) -> Celery:
    # ``celery -A workers.app`` and the task modules (``from workers.app import app``; their
    # ``@app.task`` needs it) read a module-level ``app``. It is made on that first read rather
    # than at import, so importing this module neither loads a project nor patches kombu.
    if name == "app":
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@worker_process_init.connect
def _warm_up(**_: object) -> None:
    from workers.context import warm_up  # imports the steps: not at module import of the app

    # Each pool process exports its own spans (the exporter's thread does not survive the fork).
    tracing.setup("interlock-worker")
    warm_up(get_app())


@worker_process_shutdown.connect
def _flush_spans(**_: object) -> None:
    tracing.shutdown()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _log_format(logger: logging.Logger, **_: object) -> None:
    logformat.apply(logger)  # --log-format json: Celery's handlers write JSON lines
