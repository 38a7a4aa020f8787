"""The AWS deployment in-process: moto's DynamoDB (+ stream), SNS, Lambda and Step Functions.

moto runs the state machine with its own ASL interpreter (``execute_state_machine``). It would
invoke Lambda functions in Docker; here each function's ``Handler`` string (``lambdas.<module>.handler``,
as Terraform sets it) is imported and called in-process instead, and an exception becomes a
Lambda-style error payload, so the ASL's Retry and Catch see what they would see on AWS. Wait
states and retry intervals take no time.
"""

from __future__ import annotations

import importlib
import io
import json
import threading
import time
import types
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interlock.clock import FrozenClock
from interlock.config import Project, load_project
from interlock.scaffold import init_project
from interlock.steps.deps import Deps
from interlock.store.dynamodb import DynamoStore
from lambdas import runtime
from lambdas.statemachine import render

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TABLE = "interlock-test"
# Function name -> handler module, as terraform/lambda.tf names them.
FUNCTIONS = {"orchestrator": "OrchestratorFunctionArn", "evaluator": "EvaluatorFunctionArn",
             "trigger": "TriggerFunctionArn", "run_checker": "RunCheckerFunctionArn"}

ORDERS = """\
# Like the README's example: three required traits; upstream-dependency has no evaluator, so it is
# decided by a pushed result (the marker an upstream job writes).
name: orders
archetype: batch-ingestion
traits:
  source-freshness:
    evaluator: check-source-freshness
    config: {{path: data/orders.csv, maxLagSeconds: 86400}}
  upstream-dependency: {{}}
  resource-availability:
    evaluator: check-disk-space
    config: {{path: data, minFreeMb: 1}}
trigger:
{trigger}
retry:
  maxAttempts: 2
  backoffSeconds: 1
watch:
  interval: {interval}
{extra}"""


REPORTS = """\
# Downstream of orders: its upstream-dependency trait reads orders' run log (cascade target).
name: reports
archetype: batch-ingestion
traits:
  source-freshness:
    evaluator: check-source-freshness
    config: {path: data/orders.csv, maxLagSeconds: 86400}
  upstream-dependency:
    evaluator: builtin:upstream-job-log
    config: {upstreamPipeline: orders}
  resource-availability:
    evaluator: check-disk-space
    config: {path: data, minFreeMb: 1}
trigger:
  type: command
  command: "touch ran-reports"
watch:
  interval: 1s
"""


def write_orders(root: Path, command: str = "touch ran-orders", extra: str = "", interval: str = "1s",
                 trigger: str | None = None) -> None:
    """(Re)write pipelines/orders.yaml; ``trigger`` replaces the command trigger block (YAML, indented)."""
    block = trigger or f'  type: command\n  command: "{command}"'
    (root / "pipelines" / "orders.yaml").write_text(ORDERS.format(trigger=block, extra=extra, interval=interval))


@pytest.fixture
def project_root(tmp_path: Path) -> Path:
    """``interlock init``'s project plus the orders pipeline (the scaffold's example stays too)."""
    root = tmp_path / "project"
    init_project(root)
    write_orders(root)
    return root


# moto's in-process backends are not thread-safe: the interpreter runs a Map's iterations on
# threads, and two handlers writing the table at once failed inside moto ("dictionary changed size
# during iteration"). Lambda containers share nothing, so one handler at a time here changes the
# timing only, not what any handler sees.
_ONE_AT_A_TIME = threading.RLock()  # re-entrant: a handler may cause a nested invocation


def _invoke_in_process(self: Any, body: str, request_headers: Any, response_headers: Any) -> bytes:
    """Stand-in for moto's Docker invocation: call the function's Python handler here."""
    module_name, _, attr = str(self.handler).rpartition(".")
    try:  # a broken package fails the invocation, as Lambda's Runtime.ImportModuleError does
        handler: Callable[[Any, Any], Any] = getattr(importlib.import_module(module_name), attr)
        with _ONE_AT_A_TIME:
            result = handler(json.loads(body) if body else {}, None)
    except Exception as exc:  # what the Lambda runtime reports for an unhandled exception
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
    return json.dumps(result).encode()


# Where the deployment's clock starts: today, mid-morning UTC (deadlines in tests are relative to it).
START = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)


@dataclass
class Aws:
    """Handles on the moto deployment and the project it runs."""

    root: Path
    project: Project
    store: DynamoStore
    ddb: Any
    sfn: Any
    sns: Any
    sqs: Any
    state_machine_arn: str
    topic_arn: str
    alert_queue_url: str
    clock: FrozenClock
    waits: list[int]
    _iterators: dict[str, str] = field(default_factory=dict)

    @property
    def deps(self) -> Deps:
        return runtime.runtime().deps

    def reload(self, state_machine_arn: str | None = None) -> None:
        """Re-read the project from disk (after a test edits a pipeline) and rebuild the runtime.

        ``state_machine_arn``: where the handlers start executions (default: the lifecycle's).
        """
        self.project = load_project(self.root / "interlock.yaml")
        runtime.inject(store=self.store, clock=self.clock, project=self.project, sfn=self.sfn,
                       state_machine_arn=state_machine_arn or self.state_machine_arn)
        runtime.runtime()

    def stream_records(self) -> list[dict[str, Any]]:
        """Records written to the table's stream since the last call, as Lambda receives them."""
        streams = boto3_client("dynamodbstreams")
        arn = self.ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        records: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            sid = shard["ShardId"]
            iterator = self._iterators.get(sid) or streams.get_shard_iterator(
                StreamArn=arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while iterator:
                page = streams.get_records(ShardIterator=iterator)
                records += page["Records"]
                iterator = page.get("NextShardIterator")
                if not page["Records"]:
                    break
            if iterator:
                self._iterators[sid] = iterator
        return [json.loads(json.dumps(r, default=str)) for r in records]

    def executions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]
        return found

    def start(self, name: str, pipeline: str = "orders", schedule: str = "daily") -> str:
        arn: str = self.sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name,
                                            input=json.dumps({"pipelineID": pipeline, "scheduleID": schedule}))[
            "executionArn"]
        return arn

    def finish(self, execution_arn: str, timeout: float = 240.0) -> dict[str, Any]:
        """Wait for the execution to end; its description (status, output).

        ``timeout`` only keeps a stuck execution from hanging the run: the longest (60 bounded
        readiness rounds on moto's interpreter) take about a minute alone and more when ``make
        test`` runs other test files beside it.
        """
        deadline = time.monotonic() + timeout
        while True:
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            if time.monotonic() > deadline:
                raise AssertionError(f"execution {execution_arn} still RUNNING after {timeout}s")
            time.sleep(0.05)

    def states_entered(self, execution_arn: str) -> list[str]:
        events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]

    def alert_messages(self) -> list[dict[str, Any]]:
        """Messages the alert topic delivered (to a queue subscribed to it)."""
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.alert_queue_url, MaxNumberOfMessages=10)
            if not got.get("Messages"):
                return out
            for message in got["Messages"]:
                out.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.alert_queue_url, ReceiptHandle=message["ReceiptHandle"])


def boto3_client(service: str) -> Any:
    import boto3

    return boto3.client(service, region_name=REGION)


@pytest.fixture
def aws_env(project_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """The deployment on moto, with the Step Functions interpreter on and handlers in-process."""
    from moto import mock_aws
    from moto.awslambda.models import LambdaFunction
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                       "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(LambdaFunction, "invoke", _invoke_in_process)
    clock = FrozenClock(START)
    waits: list[int] = []

    def wait(self: Any, env: Any, wait_seconds: int) -> None:
        waits.append(wait_seconds)
        clock.advance(timedelta(seconds=wait_seconds))

    monkeypatch.setattr(WaitFunction, "_wait_interval", wait)
    monkeypatch.setattr(retrier_decl, "time", types.SimpleNamespace(sleep=lambda seconds: None))
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        ddb = boto3_client("dynamodb")
        DynamoStore.create_table(ddb, TABLE)
        store = DynamoStore(ddb, TABLE, clock=clock)
        sns, sqs, iam = boto3_client("sns"), boto3_client("sqs"), boto3_client("iam")
        topic_arn = sns.create_topic(Name="interlock-alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
                      Attributes={"RawMessageDelivery": "true"})
        role = iam.create_role(RoleName="interlock-lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lam = boto3_client("lambda")
        arns = {"AlertTopicArn": topic_arn}
        for module, placeholder in FUNCTIONS.items():
            arns[placeholder] = lam.create_function(
                FunctionName=f"interlock-{module.replace('_', '-')}", Runtime="python3.12", Role=role,
                Handler=f"lambdas.{module}.handler", Code={"ZipFile": _zip()}, Architectures=["arm64"],
            )["FunctionArn"]
        sfn = boto3_client("stepfunctions")
        machine = sfn.create_state_machine(name="interlock-pipeline", definition=render(arns), roleArn=role,
                                           type="STANDARD")["stateMachineArn"]
        monkeypatch.setenv("SNS_TOPIC_ARN", topic_arn)
        env = Aws(project_root, load_project(project_root / "interlock.yaml"), store, ddb, sfn, sns, sqs, machine,
                  topic_arn, queue_url, clock, waits)
        env.reload()
        try:
            yield env
        finally:
            runtime.reset()


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lambdas/__init__.py", "")
    return buffer.getvalue()
