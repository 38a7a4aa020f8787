"""The `chaos` marker (registered here until pyproject.toml lists it)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: kills workers, crashes its own Redis and cuts the broker (minutes)")
