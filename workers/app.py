"""The Celery app, configured from interlock.yaml / the environment like every component.

``celery -A workers.app worker`` and ``interlock worker`` both land here: the project is found
with ``--config`` / ``$INTERLOCK_CONFIG`` / ``./interlock.yaml`` and ``$INTERLOCK_REDIS_URL``
overrides the broker. Broker keys live under the configured key prefix (kombu's
``global_keyprefix``), so two deployments or two test runs sharing one Redis never see each
other's tasks.

Reliability settings: late acks and reject-on-worker-lost (a task whose worker dies is delivered
again; every step is idempotent), prefetch 1 (a slow trigger does not hold other tasks hostage),
JSON only. No countdown/ETA tasks anywhere: delays are due times in the store.
"""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_process_init

from interlock.config import Project, load_project
from workers import redis_transport
from workers.config import celery_config

redis_transport.install()  # a worker that loses Redis mid-task reconnects instead of exiting

TASK_MODULES = ["workers.evaluation", "workers.trigger", "workers.run_check", "workers.archival", "workers.schedule"]


def make_app(project: Project | None = None) -> Celery:
    project = project or load_project()
    celery = Celery("interlock", include=TASK_MODULES)
    celery.conf.update(celery_config(project))
    celery.conf.interlock_project = project
    return celery


app = make_app()


@worker_process_init.connect
def _warm_up(**_: object) -> None:
    from workers.context import warm_up  # imports the steps: not at module import of the app

    warm_up(app)
