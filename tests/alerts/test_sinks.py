"""Alert sinks: webhook (JSON and Slack) against a real local server, SNS and S3 against moto."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from interlock.alerts import AlertDispatcher, build_sinks
from interlock.alerts.aws import S3Sink, SnsSink
from interlock.alerts.file import FileSink
from interlock.alerts.webhook import WebhookSink
from interlock.model import Alert, AlertConfig, AlertLevel
from interlock.netguard import BlockedURL
from interlock.store.memory import MemoryStore

ALERT = Alert(level=AlertLevel.ERROR, alert_type="stuck_run", pipeline_id="orders", message="run stuck",
              timestamp=datetime(2026, 2, 23, 9, 25, tzinfo=UTC), details={"runId": "r1"})


class Sink:
    """A webhook receiver on 127.0.0.1 answering with the scripted status codes, in order."""

    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.bodies: list[Any] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                received.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                code = received.codes.pop(0) if received.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Sink]:
    sink = Sink([])
    yield sink
    sink.close()


def test_webhook_posts_the_alert_json(receiver: Sink) -> None:
    WebhookSink(receiver.url).send(ALERT)
    assert receiver.bodies == [ALERT.to_json()]
    assert receiver.bodies[0]["alertType"] == "stuck_run"


def test_webhook_slack_format_is_a_text_message(receiver: Sink) -> None:
    WebhookSink(receiver.url, slack=True).send(ALERT)
    assert receiver.bodies == [{"text": ":red_circle: *orders* `stuck_run` run stuck"}]


def test_webhook_retries_a_5xx_once(receiver: Sink) -> None:
    receiver.codes = [503, 200]
    WebhookSink(receiver.url).send(ALERT)
    assert len(receiver.bodies) == 2


def test_webhook_4xx_fails_without_retry(receiver: Sink) -> None:
    receiver.codes = [404]
    with pytest.raises(RuntimeError, match="webhook returned status 404"):
        WebhookSink(receiver.url).send(ALERT)
    assert len(receiver.bodies) == 1


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest", "http://[fe80::1]/hook",
                                 "http://metadata.google.internal/x"])
def test_webhook_to_a_metadata_or_link_local_address_is_refused(url: str) -> None:
    with pytest.raises(BlockedURL):
        WebhookSink(url)


def test_sns_publishes_the_alert_with_a_short_subject(aws: None) -> None:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    SnsSink(topic).send(ALERT)
    (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["Subject"] == "[error] orders"
    assert json.loads(envelope["Message"]) == ALERT.to_json()


def test_s3_writes_one_object_per_alert_under_date_and_pipeline(aws: None) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="alerts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    sink = S3Sink("alerts", "/interlock/")
    sink.send(ALERT)
    key = f"interlock/2026-02-23/orders/{int(ALERT.timestamp.timestamp() * 1000)}-error.json"
    body = s3.get_object(Bucket="alerts", Key=key)["Body"].read()
    assert json.loads(body) == ALERT.to_json()
    system = ALERT.model_copy(update={"pipeline_id": None})
    assert S3Sink("alerts").key(system).startswith("2026-02-23/system/")


def test_a_failing_sink_never_stops_the_others(memory_store: MemoryStore, tmp_path: Path, receiver: Sink) -> None:
    receiver.codes = [500, 500]
    file = tmp_path / "alerts.jsonl"
    dispatcher = AlertDispatcher(memory_store, [WebhookSink(receiver.url), FileSink(file)])
    assert dispatcher.fire(ALERT, dedup_key="stuck_run:orders:r1")
    assert json.loads(file.read_text()) == {**ALERT.to_json(), "alertId": str(int(ALERT.timestamp.timestamp() * 1000))}
    assert (dispatcher.sent, dispatcher.failed) == (1, 1)
    assert not dispatcher.fire(ALERT, dedup_key="stuck_run:orders:r1")  # once per key
    assert len(file.read_text().splitlines()) == 1


def test_sinks_are_built_from_the_alerts_config(tmp_path: Path, aws: None) -> None:
    configs = [AlertConfig.model_validate(c) for c in (
        {"type": "console"}, {"type": "file", "path": "a.jsonl"},
        {"type": "webhook", "url": "http://127.0.0.1:9/hook", "format": "slack"},
        {"type": "sns", "topicArn": "arn:aws:sns:eu-west-1:123456789012:alerts"},
        {"type": "s3", "bucketName": "alerts", "prefix": "p"},
    )]
    sinks = build_sinks(configs, tmp_path)
    assert [s.name for s in sinks] == ["console", "file", "webhook", "sns", "s3"]
