"""schemathesis over /openapi.json: generated requests to every route never cause a server error.

Run twice: without an API key, and with one set (the generated requests carry it, so they reach
the routes instead of stopping at the 401). Every error answer is the API's JSON error body.
The set of fuzzed operations is checked against the app's own route list, so a new route cannot
be left out silently; the routes outside the schema (``/``, ``/metrics``, the docs) take no input
and are covered by tests/security/test_api_key.py.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.transport import Response

from interlock.api.app import create_app
from interlock.steps.dispatch import RecordingDispatcher
from tests.security.routes import app_routes
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration

KEY = "fuzz-api-key"
# Generated requests per operation and run (21 operations, two runs).
EXAMPLES = 20


def errors_are_json_with_a_code(ctx: CheckContext, response: Response, case: schemathesis.Case) -> bool | None:
    """Design rule 7: an error is JSON with a stable ``error.code`` and a human message."""
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), dict), response.text[:200]
        assert body["error"].get("code") and body["error"].get("message"), response.text[:200]
    return None


@pytest.mark.parametrize("api_key", [None, KEY], ids=["open", "with-api-key"])
def test_no_generated_request_to_any_route_causes_a_server_error(harness: Harness, api_key: str | None) -> None:
    harness.extra = f"server: {{apiKey: {api_key}}}\n" if api_key else ""
    harness.archetype("checked", ["t1"])
    harness.pipeline("orders", "checked", {"t1": "pass"},
                     extra="trigger:\n  type: http\n  http: {url: 'http://127.0.0.1:9/start'}\n")
    deps = harness.deps()
    deps.dispatch = RecordingDispatcher()
    app = create_app(deps)
    headers = {"X-API-Key": api_key} if api_key else {}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    fuzzed = {(op.method.upper(), op.path) for op in operations}
    assert fuzzed == {(method, path) for method, path, in_schema in app_routes(app) if in_schema}
    assert len(fuzzed) == 22  # with GET /api/pipelines/{name}/explain

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=headers,
                                              checks=[not_a_server_error, errors_are_json_with_a_code])
            if api_key:
                assert response.status_code != 401, "the generated request carried the key"

        check()
