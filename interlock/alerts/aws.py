"""AWS sinks: SNS (one message per alert) and S3 (one object per alert).

boto3 comes with the ``aws`` extra (``pip install 'interlock[aws]'``); credentials and region
come from the default chain. Calls are bounded (10 s connect/read, two attempts).
"""

from __future__ import annotations

import json
from typing import Any

from interlock.model import Alert

# botocore settings: bounded calls, so a slow AWS endpoint cannot hold the lifecycle.
_CLIENT_CONFIG = {"connect_timeout": 10, "read_timeout": 10, "retries": {"max_attempts": 2, "mode": "standard"}}


def _client(service: str) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:  # pragma: no cover - the aws extra is part of the test install
        raise RuntimeError(f"the {service} alert sink needs boto3: pip install 'interlock[aws]'") from None
    return boto3.client(service, config=Config(**_CLIENT_CONFIG))


class SnsSink:
    name = "sns"

    def __init__(self, topic_arn: str) -> None:
        self.topic_arn = topic_arn
        self.client = _client("sns")

    def send(self, alert: Alert) -> None:
        subject = f"[{alert.level.value}] {alert.pipeline_id or 'interlock'}"[:100]
        self.client.publish(TopicArn=self.topic_arn, Subject=subject, Message=json.dumps(alert.to_json()))


class S3Sink:
    name = "s3"

    def __init__(self, bucket: str, prefix: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = (prefix or "").strip("/")
        self.client = _client("s3")

    def key(self, alert: Alert) -> str:
        """``{prefix}/{date}/{pipeline or system}/{epoch ms}-{level}.json`` (date of the alert, UTC)."""
        stamp = alert.timestamp
        parts = [self.prefix, stamp.date().isoformat(), alert.pipeline_id or "system",
                 f"{int(stamp.timestamp() * 1000)}-{alert.level.value}.json"]
        return "/".join(p for p in parts if p)

    def send(self, alert: Alert) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.key(alert), Body=json.dumps(alert.to_json()).encode(),
                               ContentType="application/json")
