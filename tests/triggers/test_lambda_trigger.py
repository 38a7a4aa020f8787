"""The lambda trigger: invocation on moto (Lambda without Docker: the function answers with the payload it
got), and a function error or an AWS error answer from a fake Lambda endpoint that follows the Invoke
API's contract (``POST /2015-03-31/functions/{name}/invocations``; ``X-Amz-Function-Error`` with the
function's ``errorType``/``errorMessage``; ``x-amzn-ErrorType`` for the service's own errors)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from interlock.model import FailureCategory, TriggerConfig
from interlock.triggers import JobState, TriggerContext, TriggerError, trigger_for

CTX = TriggerContext("orders-daily-2026-03-02-1", "orders", "daily", "2026-03-02", Path("."),
                     template={"date": "2026-03-02"})
ROLE = "arn:aws:iam::123456789012:role/lambda"


@pytest.fixture
def aws_lambda(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's Lambda without Docker, with one function ``load-orders``."""
    from moto import mock_aws

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        iam = boto3.client("iam")
        iam.create_role(RoleName="lambda", AssumeRolePolicyDocument="{}")
        client = boto3.client("lambda")
        client.create_function(FunctionName="load-orders", Runtime="python3.12", Role=ROLE, Handler="h.handler",
                               Code={"ZipFile": b"fake"})
        yield client


def config(**block: Any) -> TriggerConfig:
    return TriggerConfig.model_validate({"type": "lambda", "lambda": {"function_name": "load-orders", **block}})


def test_an_event_invocation_is_queued_and_the_run_waits_for_the_completion_callback(aws_lambda: Any) -> None:
    cfg = config()
    started = trigger_for(cfg.type).start(cfg, CTX)
    assert started.done is False
    assert started.metadata == {"lambda_function": "load-orders", "lambda_status": 202}
    status = trigger_for(cfg.type).status(cfg, started.metadata)
    assert status.state is JobState.RUNNING and "completion callback" in status.message


def test_a_request_response_invocation_ends_the_run_with_the_functions_answer(aws_lambda: Any) -> None:
    cfg = config(invocation_type="RequestResponse", payload='{"date": "${date}", "run": "${runId}"}')
    started = trigger_for(cfg.type).start(cfg, CTX)
    assert started.done is True
    assert started.metadata["lambda_status"] == 200
    # moto's Docker-free Lambda answers with the payload it was given: the templated one.
    assert json.loads(started.metadata["lambda_result"]) == {"date": "2026-03-02", "run": CTX.run_id}


def test_the_default_payload_names_the_run_so_the_function_can_report_back(aws_lambda: Any) -> None:
    cfg = config(invocation_type="RequestResponse")
    started = trigger_for(cfg.type).start(cfg, CTX)
    assert json.loads(started.metadata["lambda_result"]) == {
        "runId": CTX.run_id, "pipelineId": "orders", "scheduleId": "daily", "period": "2026-03-02"}


def test_a_payload_that_is_not_json_after_templating_is_permanent(aws_lambda: Any) -> None:
    cfg = config(payload='{"date": ${date}x}')
    with pytest.raises(TriggerError, match="payload is not JSON") as exc:
        trigger_for(cfg.type).start(cfg, CTX)
    assert exc.value.category is FailureCategory.PERMANENT


class FakeLambda:
    """Answers every Invoke with the scripted (status, headers, body); records the requests."""

    def __init__(self) -> None:
        self.answer: tuple[int, dict[str, str], dict[str, Any]] = (200, {}, {})
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": raw})
                code, headers, body = fake.answer
                data = json.dumps(body).encode()
                self.send_response(code)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def fake_lambda(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLambda]:
    fake = FakeLambda()
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL_LAMBDA": fake.url}.items():
        monkeypatch.setenv(key, value)
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_a_function_error_fails_the_run_with_the_functions_own_message(fake_lambda: FakeLambda) -> None:
    fake_lambda.answer = (200, {"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "$LATEST"},
                          {"errorType": "KeyError", "errorMessage": "'orders_table'", "stackTrace": []})
    cfg = config(invocation_type="RequestResponse", qualifier="prod")
    with pytest.raises(TriggerError) as exc:
        trigger_for(cfg.type).start(cfg, CTX)
    assert str(exc.value) == "lambda function load-orders failed (Unhandled): KeyError: 'orders_table'"
    assert exc.value.category is FailureCategory.TRANSIENT  # the retry policy decides, as for a command
    (request,) = fake_lambda.requests
    assert request["path"] == "/2015-03-31/functions/load-orders/invocations?Qualifier=prod"
    assert request["headers"]["X-Amz-Invocation-Type"] == "RequestResponse"


@pytest.mark.parametrize(("code", "error_type", "category"), [
    (403, "AccessDeniedException", FailureCategory.PERMANENT),
    (404, "ResourceNotFoundException", FailureCategory.PERMANENT),
    (400, "InvalidRequestContentException", FailureCategory.PERMANENT),
    (429, "TooManyRequestsException", FailureCategory.TRANSIENT),
    (500, "ServiceException", FailureCategory.TRANSIENT),
    (502, "EC2ThrottledException", FailureCategory.TRANSIENT),
])
def test_each_aws_error_maps_to_its_failure_category(fake_lambda: FakeLambda, code: int, error_type: str,
                                                     category: FailureCategory) -> None:
    fake_lambda.answer = (code, {"x-amzn-ErrorType": error_type}, {"Type": "User", "message": "scripted"})
    cfg = config()
    with pytest.raises(TriggerError, match=f"lambda trigger: Invoke failed: {error_type}") as exc:
        trigger_for(cfg.type).start(cfg, CTX)
    assert exc.value.category is category


@pytest.mark.parametrize(("block", "reason"), [
    ({"function_name": ""}, "at least 1 character"),
    ({"invocation_type": "DryRun"}, "'Event' or 'RequestResponse'"),
])
def test_bad_blocks_are_refused_at_load(block: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        config(**block)
