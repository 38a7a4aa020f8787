"""An example Interlock plugin, implementing the same protocols as Interlock's builtins.

* ``plugin:weekday`` (evaluator): PASS when the period's date falls on one of ``config.days``
  (``[mon, tue, ...]``), FAIL otherwise.
* ``touch-file`` (trigger): writes the run id into ``config.path`` (relative to the project folder)
  and reports the run as finished at once.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from interlock.evaluators.base import EvaluationRequest, EvaluatorOutput
from interlock.model import FailureCategory, TraitStatus, TriggerConfig
from interlock.triggers.base import JobState, Started, Status, TriggerContext, TriggerError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WeekdayEvaluator:
    """The :class:`interlock.evaluators.base.Evaluator` protocol: ``evaluate(request, timeout)``."""

    def check_config(self, config: dict[str, Any]) -> list[str]:
        days = config.get("days")
        if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
            return [f"days must be a non-empty list of {', '.join(DAYS)}; got {days!r}"]
        return []

    def evaluate(self, request: EvaluationRequest, timeout: float) -> EvaluatorOutput:
        problems = self.check_config(request.config)
        if problems:
            return EvaluatorOutput.error(problems[0], FailureCategory.PERMANENT)
        day = date.fromisoformat(str(request.config["date"]))
        name = DAYS[day.weekday()]
        status = TraitStatus.PASS if name in request.config["days"] else TraitStatus.FAIL
        return EvaluatorOutput(status, {"weekday": name}, f"{day.isoformat()} is a {name}")


class TouchFileTrigger:
    """The :class:`interlock.triggers.base.Trigger` protocol: ``start`` and ``status``."""

    def check_config(self, config: dict[str, Any]) -> list[str]:
        path = config.get("path")
        if isinstance(path, str) and path and ".." not in path and not path.startswith("/"):
            return []
        return ["path must be a file name in the project"]

    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started:
        settings = (config.plugin.config if config.plugin else None) or {}
        if self.check_config(settings):
            raise TriggerError("path must be a file name in the project", FailureCategory.PERMANENT)
        (ctx.project_root / settings["path"]).write_text(ctx.run_id + "\n")
        return Started(done=True, metadata={"path": settings["path"]})

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        return Status(JobState.SUCCEEDED)
