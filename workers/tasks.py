"""Every step's Celery task, made from the step registry (``interlock/steps/registry.py``).

Task ``interlock.<step>`` runs the step with the worker process's Deps through
:func:`interlock.steps.registry.run_step` (which records its latency) and returns its summary.
Arguments come by name as the dispatchers send them, or by position in the order of the step's
request fields (the guard, ``workers/guard.py``, has checked them against that model already).
The names never change: messages already in a deployed queue must keep finding their task.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery, Task
from celery.signals import worker_ready, worker_shutdown

from interlock import correlation
from interlock.steps.registry import STEPS, Step, bind, import_steps, run_step, summary
from workers import heartbeat
from workers.app import app
from workers.context import deps_for, start_up_in_background


def register(celery: Celery, step: Step) -> Task:
    """Register ``step``'s task on ``celery``."""
    def run(self: Task, *args: Any, **kwargs: Any) -> Any:
        with correlation.incoming(carried(self.request)):
            return summary(run_step(deps_for(celery), step.name, **bind(step.name, args, kwargs)))

    run.__name__ = run.__qualname__ = step.name
    run.__doc__ = f"The {step.name} step ({step.target}) on queue {step.queue}."
    task: Task = celery.task(name=step.task_name, bind=True)(run)
    return task


def carried(request: Any) -> dict[str, Any]:
    """What a message's headers carried for :mod:`interlock.correlation` (Celery puts custom
    headers on the request itself; older senders nest them under ``headers``)."""
    nested = getattr(request, "headers", None) or {}
    return {key: request.get(key) or nested.get(key) for key in (correlation.PUSHED_AT, correlation.TRACEPARENT)}


TASKS: dict[str, Task] = {name: register(app, step) for name, step in STEPS.items()}
# In the worker's main process, before it forks its pool: the first task of each process then
# costs what every other one costs.
import_steps()


_heartbeat: list[threading.Event] = []


@worker_ready.connect
def _register_pipelines(sender: Any = None, **_: object) -> None:
    start_up_in_background(app)
    consumed = sorted(q.name for q in sender.task_consumer.queues) if sender is not None else []
    stop = heartbeat.start(deps_for(app).store, sender.hostname if sender is not None else "worker", consumed)
    if stop is not None:
        _heartbeat.append(stop)


@worker_shutdown.connect
def _stop_heartbeat(**_: object) -> None:
    for stop in _heartbeat:
        stop.set()
