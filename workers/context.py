"""One Deps per worker process, built on first use (after the fork, so no shared sockets)."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from celery import Celery

from interlock import correlation
from interlock.config import Project
from interlock.config.project import Provider
from interlock.steps import epoch
from interlock.steps.deps import Deps, build_deps, register_project_pipelines
from interlock.steps.dispatch import Dispatcher, RecordingDispatcher
from interlock.steps.reconcile import ensure_scheduled
from interlock.steps.registry import STEPS, Priority
from interlock.store.redis import RedisStore
from workers.config import celery_config

log = logging.getLogger(__name__)
_deps: dict[int, Deps] = {}


class CeleryDispatcher:
    """Sends a step's task to its queue at the step's priority; routine sweeps go behind the fast path."""

    #: Steps run elsewhere, later: alert deliveries are queued too (interlock/steps/deps.py build_deps).
    queued = True

    def __init__(self, app: Celery) -> None:
        self.app = app

    def send(self, step: str, **kwargs: Any) -> None:
        self._send(step, kwargs, STEPS[step].priority)

    def sweep(self, step: str, **kwargs: Any) -> None:
        self._send(step, kwargs, Priority.ROUTINE)

    def _send(self, name: str, kwargs: dict[str, Any], priority: Priority) -> None:
        step = STEPS[name]
        # The headers carry the push time and the trace context to the step (interlock/correlation.py).
        self.app.send_task(step.task_name, kwargs=kwargs, queue=step.queue, priority=int(priority),
                           headers=correlation.outgoing() or None)


def client_dispatcher(project: Project) -> Dispatcher:
    """How a process that is not a worker (the CLI, the API server) asks the workers for a step.

    With ``provider: redis``, a Celery client of the workers' broker. With ``provider: dynamodb``
    there are no Celery workers: the stream-router Lambda reacts to what was written (a pushed
    trait starts its pipeline) and the watchdog to what is due, so the request is only recorded.
    """
    if project.settings.provider is Provider.DYNAMODB:
        return RecordingDispatcher()
    client = Celery("interlock-client")
    client.conf.update(celery_config(project))
    return CeleryDispatcher(client)


def deps_for(app: Celery) -> Deps:
    pid = os.getpid()
    if pid not in _deps:
        project: Project = app.conf.interlock_project
        _deps[pid] = build_deps(project, CeleryDispatcher(app))
    return _deps[pid]


def warm_up(app: Celery) -> None:
    """Build this process's Deps and open its store connection before the first task arrives.

    Called in each pool process right after the fork: the first push after a worker starts then
    costs what every other push costs, not a connection, script loads and object setup on top.
    It also notes the store's epoch, so this process can tell later if the store was reset.
    Redis being down here is not fatal; the first task connects when it comes back.
    """
    deps = deps_for(app)
    try:
        deps.store.ping()
        epoch.verify(deps)
    except Exception:
        log.warning("store not reachable while warming up a worker process; the first task will connect")


def start_up(app: Celery) -> int:
    """Register the project's pipelines and make sure each has a due time; return how many.

    First it notes the store's epoch (before registering: an empty store is told apart from a
    first start by having nothing registered) and logs whether Redis persists its data.
    """
    deps = deps_for(app)
    epoch.verify(deps)
    if isinstance(deps.store, RedisStore):
        level, message = deps.store.persistence()
        log.log(level, "%s", message)
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        if total:
            log.info("registering pipelines whose file changed: %d of %d (%.1f s)", done, total,
                     time.monotonic() - started)

    count = register_project_pipelines(deps.project, deps.store, progress=progress)
    ensure_scheduled(deps)
    return count


def start_up_in_background(app: Celery) -> threading.Thread:
    """:func:`start_up` on a thread of its own, for a worker that is already consuming.

    ``worker_ready`` runs on the consumer's thread, and registering 1 000 pipelines takes about a
    second: a push arriving meanwhile waited for it (the slow first push of bench.reaction).
    Registration is idempotent, so tasks that run before it ends see the pipelines as last stored;
    only pipelines whose file changed are written, and the progress is logged.
    """
    def run() -> None:
        try:
            log.info("registered %d pipelines", start_up(app))
        except Exception:  # Beat and the other workers register too; the next start tries again
            log.exception("registering the project's pipelines at worker start failed")

    thread = threading.Thread(target=run, name="interlock-start-up", daemon=True)
    thread.start()
    return thread
