"""How a step asks for the next step: by name, without knowing whether Celery runs it.

The Celery adapter (``workers/context.py``) sends a task to the step's queue; the inline
dispatcher (the CLI with no workers, the API's ``run``, the Lambda watchdog, tests of single
steps) runs it in the caller. ``send`` is the fast path (a push, a completion, a cascade);
``sweep`` is routine work the reconcile loop found, which a broker may serve after the fast path.

:func:`request_step` is the fast path itself (due now, and asked for now); :func:`request_advance`
is what a push (API or CLI) and a cascade use to have a pipeline looked at now, and a rerun
request asks for its rerun step the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from interlock.steps.keys import advance_key
from interlock.steps.registry import STEPS, run_step

if TYPE_CHECKING:
    from interlock.steps.deps import Deps


class Dispatcher(Protocol):
    def send(self, step: str, **kwargs: Any) -> None:
        """Ask for ``step`` now (the fast path)."""

    def sweep(self, step: str, **kwargs: Any) -> None:
        """Ask for ``step`` as routine work found by the reconcile loop (behind the fast path)."""


class RecordingDispatcher:
    """Remembers what was asked for and runs nothing (the due index will pick it up)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, step: str, **kwargs: Any) -> None:
        self.sent.append((step, kwargs))

    sweep = send


class InlineDispatcher(RecordingDispatcher):
    """Runs the steps asked for right away in this process, with :attr:`deps` (``deps`` asking through it).

    ``only``: the steps to run; others are only recorded and left to the due index, as a
    :class:`RecordingDispatcher` would (the CLI's ``run`` starts the trigger it asks for, but
    leaves a cascade's downstream advances to the workers). Default: every step in the registry.
    A step's latency is recorded as on the Celery path (:func:`interlock.steps.registry.run_step`).
    """

    def __init__(self, deps: Deps, only: Collection[str] | None = None) -> None:
        super().__init__()
        unknown = set(only or ()) - set(STEPS)
        if unknown:
            raise ValueError(f"no step is called {', '.join(sorted(unknown))}")
        self.only = frozenset(STEPS if only is None else only)
        self.deps = deps.with_dispatch(self)

    def send(self, step: str, **kwargs: Any) -> None:
        super().send(step, **kwargs)
        if step in self.only:
            run_step(self.deps, step, **kwargs)

    sweep = send


def request_step(deps: Deps, due_key: str, step: str, now: datetime | None = None, **kwargs: Any) -> None:
    """Ask for ``step`` at once, durably: ``due_key`` is due ``now`` in the index, then the message is sent.

    The due entry is what the reconcile loop finds if the message is lost; the message is what
    makes it fast.
    """
    with deps.store.batch():  # what the caller queued is in the store before the message is
        deps.store.set_due(due_key, now if now is not None else deps.clock.now())
    deps.dispatch.send(step, **kwargs)


def request_advance(deps: Deps, pipeline: str, schedules: Iterable[str] | None = None,
                    now: datetime | None = None) -> list[str]:
    """Have ``pipeline`` looked at now: the advance step of each schedule, due entries first (:func:`request_step`).

    ``schedules``: default, all of the pipeline's (raises UnknownPipeline). Returns those asked for.
    """
    names = list(schedules) if schedules is not None else [s.name for s in deps.pipeline(pipeline).schedule_list()]
    at = now if now is not None else deps.clock.now()
    with deps.store.batch():  # every due entry (and what the caller queued) in one round trip, before the messages
        for schedule in names:
            deps.store.set_due(advance_key(pipeline, schedule), at)
    for schedule in names:
        deps.dispatch.send("advance", pipeline=pipeline, schedule=schedule)
    return names
