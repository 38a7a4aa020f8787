"""The watchdog Lambda (an EventBridge schedule): the level-triggered loop of the AWS deployment.

It is the reconcile step — the one Beat drives locally — with a dispatcher fitted to Lambda:

* ``advance`` (a pipeline whose next look is due: a NOT_READY one whose execution ended, a retry
  whose backoff is over, a new period) starts a lifecycle execution, named after the minute, so two
  overlapping watchdog runs start it once;
* ``check_sla`` (deadlines, at-risk warnings, validation timeouts, missed schedules),
  ``check_stuck`` (stuck runs), ``check_run`` (a poll whose execution ended early), ``monitor``,
  ``rerun`` and ``deliver_alert`` (an alert delivery's retry) run right here, through the same
  steps the Celery workers run.

Each item is independent: one that raises is logged and counted, and the others still run (its
lease makes the next watchdog run pick it up again).
"""

from __future__ import annotations

import logging
from typing import Any

from interlock.steps.deps import Deps
from interlock.steps.dispatch import InlineDispatcher
from interlock.steps.reconcile import ensure_scheduled, reconcile
from lambdas.executions import ExecutionDispatcher, ExecutionStarter
from lambdas.runtime import COMMON_ENV, ENV_STATE_MACHINE, runtime

log = logging.getLogger(__name__)

ENV: tuple[str, ...] = (*COMMON_ENV, ENV_STATE_MACHINE)
# The steps the watchdog runs itself; the rest become lifecycle executions.
INLINE = ("check_sla", "check_stuck", "check_run", "monitor", "rerun", "deliver_alert")


class WatchdogDispatcher(InlineDispatcher):
    """Runs the schedule-queue steps inline and turns ``advance`` into an execution."""

    def __init__(self, deps: Deps, starter: ExecutionStarter, reason: str) -> None:
        super().__init__(deps, only=INLINE)
        self.executions = ExecutionDispatcher(starter, reason)
        self.ran: list[str] = []
        self.failed: list[str] = []

    def send(self, step: str, **kwargs: Any) -> None:
        label = f"{step}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
        try:
            if step in self.only:
                super().send(step, **kwargs)
            else:
                # advance becomes an execution; anything else (trigger of a catch-up period asked
                # for inside a step) keeps its due entry for the execution that evaluates it.
                self.executions.send(step, **kwargs)
            self.ran.append(label)
        except Exception:
            log.exception("watchdog: %s failed", label)
            self.failed.append(label)

    sweep = send


def handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    rt = runtime()
    deps = rt.deps
    # Pipelines registered by the runtime (or the API) since the last run get their first due times.
    scheduled = ensure_scheduled(deps)
    minute = rt.now().strftime("%Y%m%dT%H%M")
    dispatcher = WatchdogDispatcher(deps, rt.executions(), f"reconcile-{minute}")
    dispatched = reconcile(dispatcher.deps)
    return {"scheduled": scheduled, "dispatched": dispatched, "ran": len(dispatcher.ran),
            "executions": dispatcher.executions.started, "failed": dispatcher.failed}
