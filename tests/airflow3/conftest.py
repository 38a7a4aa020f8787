"""The step harness (a project on disk + the real store) for the real-Airflow test."""

from tests.steps.conftest import harness

__all__ = ["harness"]
