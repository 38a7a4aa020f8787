"""Backend-specific store tests share the conformance suite's way of making a fresh namespace."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conformance.backends import destroy, new_spec


@pytest.fixture
def spec() -> Iterator[dict[str, Any]]:
    """A fresh, empty DynamoDB table on the shared moto server, deleted afterwards."""
    s = new_spec("dynamodb")
    yield s
    destroy(s)
