"""An evaluator from an installed package (``evaluator: plugin:<name>``, see :mod:`interlock.plugins`).

The plugin implements the same :class:`~interlock.evaluators.base.Evaluator` protocol as the
builtins; what it answers is checked like any evaluator's answer (an object that is not an
:class:`~interlock.evaluators.base.EvaluatorOutput` is ERROR/PERMANENT), and ``rules`` in its config
apply to a PASS as they do for the builtins. An exception it raises is caught by the runner.
"""

from __future__ import annotations

from interlock import plugins
from interlock.clock import Clock
from interlock.evaluators.base import ERROR_PREFIX, EvaluationRequest, EvaluatorOutput
from interlock.evaluators.builtin import with_rules
from interlock.model import FailureCategory, TraitStatus


class PluginEvaluator:
    def __init__(self, name: str, clock: Clock) -> None:
        self.name = name
        self.clock = clock

    def evaluate(self, request: EvaluationRequest, timeout: float) -> EvaluatorOutput:
        try:
            plugin = plugins.load(plugins.EVALUATORS, self.name)
        except plugins.PluginError as exc:
            return EvaluatorOutput.error(f"{ERROR_PREFIX}: {exc}", FailureCategory.PERMANENT)
        output = plugin.evaluate(request, timeout)
        if not isinstance(output, EvaluatorOutput) or not isinstance(output.status, TraitStatus):
            return EvaluatorOutput.error(f"{ERROR_PREFIX}: plugin {self.name!r} answered {type(output).__name__}, "
                                         "not an EvaluatorOutput", FailureCategory.PERMANENT)
        return with_rules(output, request.config.get("rules"), self.clock.now())
