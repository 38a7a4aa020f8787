"""The step registry: every step a message can ask for, declared once.

Each :class:`Step` names its function, the queue its Celery task is routed to, whether it is on
the fast path or routine work, the request model its arguments are checked against, and whether
its latency is recorded. Everything else is derived from :data:`STEPS`:

* the Celery tasks ``interlock.<step>`` (``workers/tasks.py``), their routes and Beat's options
  (``workers/config.py``, ``beat_schedule.py``);
* the queues ``interlock worker -Q`` knows, the demo's workers and docker-compose's (checked by a test);
* the message check of the worker's guard (:func:`parse_request`);
* the inline dispatcher (:class:`interlock.steps.dispatch.InlineDispatcher`: the CLI, the API, the
  Lambda watchdog, tests) — every path runs a step through :func:`run_step`, which is also the one
  place step latency is recorded (``interlock_step_seconds{step}``).

A new step: write ``fn(deps, **arguments)`` in ``interlock/steps/``, its request model in
``requests.py``, one line here (and a worker for a new queue in docker-compose.yml).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from enum import Enum, IntEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

from interlock import correlation, tracing
from interlock.errors import InvalidStepRequest, InvalidTransition, UnknownRun
from interlock.metrics import timed
from interlock.steps.requests import (
    SHOWN,
    CompleteRunRequest,
    DeliveryRequest,
    NoArguments,
    PipelineScheduleRequest,
    RerunRequest,
    RunRequest,
    StepRequest,
    TriggerRequest,
    validate,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from interlock.steps.deps import Deps


class Priority(IntEnum):
    """Which messages a broker serves first: the fast path before routine re-checks.

    The values are the Redis broker's message priorities (0 is taken first; ``workers/config.py``
    sets its priority steps): the fast path must not wait behind the routine re-checks the
    reconcile loop sends for every NOT_READY pipeline.
    """

    FAST = 0  # a push, a completion, a cascade, Beat's reconcile: someone is waiting
    ROUTINE = 9  # what the reconcile loop finds due; never ahead of the fast path


# The Redis broker's priority steps: a queue is one list per step (``<queue>`` for the first,
# ``<queue>:<step>`` for the others).
BROKER_PRIORITY_STEPS = (int(Priority.FAST), 3, 6, int(Priority.ROUTINE))


@dataclass(frozen=True)
class Step:
    """One step: ``function(deps, **arguments)``, with everything a transport needs to carry it."""

    name: str
    #: ``module:function``, imported on first use: reading the table (the CLI, the guard) imports no step.
    target: str
    queue: str
    request: type[StepRequest]
    #: The priority of a message asking for it now (a reconcile sweep is always routine).
    priority: Priority = Priority.FAST
    #: Whether its latency is recorded.
    timed: bool = True
    #: Errors that mean "nothing to do" when the step arrives as a message (a duplicate callback).
    no_op: tuple[type[Exception], ...] = ()

    @cached_property
    def function(self) -> Callable[..., Any]:
        module, _, name = self.target.partition(":")
        found: Callable[..., Any] = getattr(importlib.import_module(module), name)
        return found

    @property
    def task_name(self) -> str:
        """The Celery task's name; messages already queued name it, so it never changes."""
        return f"interlock.{self.name}"


STEPS: dict[str, Step] = {step.name: step for step in (
    Step("advance", "interlock.steps.advance:advance", "evaluation", PipelineScheduleRequest),
    Step("trigger", "interlock.steps.runs:trigger", "trigger", TriggerRequest),
    Step("rerun", "interlock.steps.reruns:rerun", "trigger", RerunRequest),
    Step("check_run", "interlock.steps.runs:check_run", "run_check", RunRequest),
    Step("complete_run", "interlock.steps.runs:complete_run", "run_check", CompleteRunRequest, timed=False,
         no_op=(UnknownRun, InvalidTransition)),  # finished already (a duplicate callback) or unknown
    Step("monitor", "interlock.steps.monitor:monitor", "run_check", RunRequest),
    Step("archive", "interlock.steps.archive:archive", "archival", NoArguments, Priority.ROUTINE, timed=False),
    Step("reconcile", "interlock.steps.reconcile:reconcile", "schedule", NoArguments),
    Step("check_sla", "interlock.steps.sla:check_sla", "schedule", PipelineScheduleRequest, Priority.ROUTINE),
    Step("check_stuck", "interlock.steps.watchdog:check_stuck", "schedule", RunRequest, Priority.ROUTINE,
         timed=False),
    # Apart from every other queue: a sink that hangs holds an alerts worker, not a lifecycle step.
    Step("deliver_alert", "interlock.steps.alerts:deliver_alert", "alerts", DeliveryRequest, timed=False),
)}

def queues() -> list[str]:
    """Every queue some step is routed to, sorted: what one worker for everything consumes."""
    return sorted({step.queue for step in STEPS.values()})


def import_steps() -> None:
    """Import every step's module now rather than on its first use."""
    for step in STEPS.values():
        step.function  # noqa: B018  (the property imports it)


def run_step(deps: Deps, name: str, /, **arguments: Any) -> Any:
    """Run step ``name`` with ``arguments`` and record its latency (when the step is timed).

    This is how every transport runs a step: the Celery task, the inline dispatcher, the Lambda
    handlers. A step's ``no_op`` errors return None. Raises KeyError for a name not in STEPS.

    While it runs, the step's pipeline, schedule, period and run id are bound for log lines
    (:mod:`interlock.correlation`) and, with tracing on, it is a span ``interlock.<step>``: a child
    of the message's trace, or for a run's checks of the trace that started the run.
    """
    step = STEPS[name]
    ids = correlation.ids_of(arguments)
    with correlation.bound(**ids), tracing.span(f"interlock.{name}", _parent(deps, ids), **ids), \
            timed(deps.store, name) if step.timed else nullcontext():
        try:
            return step.function(deps, **arguments)
        except step.no_op:
            return None


def _parent(deps: Deps, ids: Mapping[str, Any]) -> str | None:
    """The trace a step continues: the message's, else (tracing on) the one its run was started in."""
    parent = correlation.parent()
    if parent or not tracing.enabled() or "run_id" not in ids:
        return parent
    try:
        return deps.store.get_run(ids["run_id"]).metadata.get(correlation.TRACEPARENT)
    except Exception:  # an unknown run: the step says so itself
        return None


def bind(name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A message's arguments by name: positional ones in the order of the step's request fields."""
    fields = list(STEPS[name].request.model_fields)
    return {**dict(zip(fields, args, strict=False)), **kwargs}


def summary(result: Any) -> Any:
    """A step's result as the small JSON a Celery task returns: a status, a count, a flag or None."""
    if result is None or isinstance(result, bool | int | float | str):
        return result
    if isinstance(result, Enum):
        return result.value
    status = getattr(result, "status", None)
    if isinstance(status, Enum):
        return status.value
    if isinstance(result, list | tuple):
        return len(result)
    return True  # something happened (an alert was raised)


def parse_request(step: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> StepRequest:
    """Validate a step's arguments (positional ones in field order, as a call would bind them).

    Raises :class:`InvalidStepRequest` naming each bad field and why, e.g.
    ``invalid trigger request: attempt: must be >= 1 (got -1)``; a name that is no step too.
    """
    found = STEPS.get(step)
    if found is None:
        raise InvalidStepRequest(step, [("task", f"no step is called {step[:SHOWN]!r}")])
    return validate(found.request, args, kwargs or {}, step)
