"""The step harness for the API tests."""

from tests.steps.conftest import harness

__all__ = ["harness"]
