"""schemathesis over /openapi.json: generated requests to every route never cause a server error."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from interlock.api.app import create_app
from interlock.steps.dispatch import RecordingDispatcher
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration


def test_no_generated_request_to_any_route_causes_a_server_error(harness: Harness) -> None:
    harness.archetype("checked", ["t1"])
    harness.pipeline("orders", "checked", {"t1": "pass"},
                     extra="trigger:\n  type: http\n  http: {url: 'http://127.0.0.1:9/start'}\n")
    deps = harness.deps()
    deps.dispatch = RecordingDispatcher()
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(deps))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 21

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        check()
