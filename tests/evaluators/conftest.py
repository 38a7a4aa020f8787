"""A PostgreSQL database of the test's own, standing in for a warehouse that ``builtin:sql`` reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from interlock.evaluators.sql import dispose_pools
from tests.archive.conftest import admin


@pytest.fixture
def warehouse() -> Iterator[str]:
    """The name of a fresh database (dropped afterwards, with this process's pools to it)."""
    name = f"interlock_wh_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        dispose_pools()
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
