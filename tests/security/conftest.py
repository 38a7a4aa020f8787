"""The step harness (a project on disk + a real Redis store) for the security tests."""

from tests.steps.conftest import harness

__all__ = ["harness"]
