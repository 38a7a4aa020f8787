"""Evaluators: executables, HTTP endpoints and in-process builtins behind one protocol."""

from interlock.evaluators.base import EvaluationRequest, Evaluator, EvaluatorOutput
from interlock.evaluators.runner import EvaluatorRunner

__all__ = ["EvaluationRequest", "Evaluator", "EvaluatorOutput", "EvaluatorRunner"]
