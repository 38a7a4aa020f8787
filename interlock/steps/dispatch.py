"""How a step asks for the next step: by name, without knowing whether Celery runs it.

The Celery adapter sends a task to the step's queue; the inline dispatcher (the CLI with no
workers, tests of single steps) runs it in the caller. ``send`` is the fast path (a push, a
completion, a cascade); ``sweep`` is routine work the reconcile loop found, which a broker may
serve after the fast path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

# Step name -> the queue its task is routed to.
QUEUES = {
    "advance": "evaluation",
    "trigger": "trigger",
    "check_run": "run_check",
    "complete_run": "run_check",
    "monitor": "run_check",
    "rerun": "trigger",
    "archive": "archival",
    "reconcile": "schedule",
    "check_sla": "schedule",
    "check_stuck": "schedule",
}


class Dispatcher(Protocol):
    def send(self, step: str, **kwargs: Any) -> None:
        """Ask for ``step`` now (the fast path)."""

    def sweep(self, step: str, **kwargs: Any) -> None:
        """Ask for ``step`` as routine work found by the reconcile loop (behind the fast path)."""


class InlineDispatcher:
    """Runs the named step right away in this process."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[..., Any]] = {}
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, step: str, **kwargs: Any) -> None:
        self.sent.append((step, kwargs))
        handler = self.handlers.get(step)
        if handler is not None:
            handler(**kwargs)

    sweep = send


class RecordingDispatcher:
    """Remembers what was asked for and runs nothing (the due index will pick it up)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, step: str, **kwargs: Any) -> None:
        self.sent.append((step, kwargs))

    sweep = send
