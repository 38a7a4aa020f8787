"""The stream-router Lambda: a pushed trait or marker written to the table starts its pipeline at once.

This is the AWS fast path (locally, ``interlock push`` asks for the advance step directly). It
reads the table's DynamoDB stream (NEW_AND_OLD_IMAGES) and, for every record that stores a pushed
PASS or a marker for a pipeline, starts one lifecycle execution per schedule.

* Names are deterministic: ``<pipeline>:<schedule>:<source>:<hash of the record's new image>``,
  so a redelivered record (Lambda retries whole batches) starts nothing new —
  ``ExecutionAlreadyExists`` counts as success.
* Only transitions count: a MODIFY whose new image equals the old one (apart from the expiry
  attributes) starts nothing.
* Key layout: docs/stores.md, "DynamoDB" (read here through the key functions of
  ``interlock/store/dynamodb.py``) — pushed results are ``PIPELINE#<p> / PUSHED#<trait>`` with the
  result's JSON (and its ``status``) in ``data``; producers may also write the reference's
  ``PIPELINE#<p> / MARKER#<source>#<timestamp>`` items (optional ``scheduleID``).
* Attributes are decoded defensively (a Number where a String was expected is read as text, a
  missing one is absent); a record that cannot be routed is logged and skipped, never a crash.
* A failing start (throttling, a Step Functions outage) is reported in ``batchItemFailures`` by
  its sequence number, so only that record and those after it are retried, not the whole batch.
* Lifecycle events: a run log (``RUNLOG#``) whose status *changes* to COMPLETED (or
  COMPLETED_MONITORING) or FAILED is published once to ``LIFECYCLE_TOPIC_ARN`` when that is set —
  a rewrite with the same status, or COMPLETED_MONITORING → COMPLETED, publishes nothing (the old
  image tells).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

from interlock.errors import UnknownPipeline
from interlock.model import SUCCEEDED_RUN_STATUSES, RunStatus, TraitStatus
from interlock.store.dynamodb import MARKER_SK_PREFIX, PUSHED_SK_PREFIX, RUNLOG_SK_PREFIX, pipeline_of
from lambdas.executions import execution_input, execution_name
from lambdas.runtime import COMMON_ENV, ENV_LIFECYCLE_TOPIC, ENV_STATE_MACHINE, runtime, traced

log = logging.getLogger(__name__)

ENV: tuple[str, ...] = (*COMMON_ENV, ENV_STATE_MACHINE, ENV_LIFECYCLE_TOPIC)

# Sort-key prefixes of the items that announce new input -> the label in execution names.
INPUT_PREFIXES = ((PUSHED_SK_PREFIX, "push"), (MARKER_SK_PREFIX, "marker"))
# Run-log statuses -> the lifecycle event a change into them publishes.
LIFECYCLE = {**{s.value: "PIPELINE_COMPLETED" for s in SUCCEEDED_RUN_STATUSES},
             RunStatus.FAILED.value: "PIPELINE_FAILED"}
# How long a published lifecycle event is remembered against redelivery (s): past the stream's 24 h.
LIFECYCLE_DEDUP_TTL = 7 * 24 * 3600
ROUTED_EVENTS = ("INSERT", "MODIFY")
# Attributes that change without the record meaning anything new.
VOLATILE = ("ttl", "exp")


def handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    records = event.get("Records")
    for record in records if isinstance(records, list) else []:
        if not isinstance(record, dict):
            continue
        try:
            with traced("interlock.aws.route", {}, sequence=_sequence(record) or None):
                route(record)  # a started execution's input carries this span's traceparent
        except Exception:
            sequence = _sequence(record)
            log.exception("routing stream record %s failed", sequence or "(no sequence number)")
            if sequence:
                failures.append({"itemIdentifier": sequence})
    return {"batchItemFailures": failures}


def route(record: dict[str, Any]) -> list[str]:
    """Start the executions one stream record asks for; return their names (started or existing)."""
    if record.get("eventName") not in ROUTED_EVENTS:
        return []  # REMOVE, including TTL expiry, announces nothing
    change = record.get("dynamodb")
    if not isinstance(change, dict):
        return []
    keys, new, old = _image(change, "Keys"), _image(change, "NewImage"), _image(change, "OldImage")
    pk, sk = attribute(keys, "PK") or attribute(new, "PK"), attribute(keys, "SK") or attribute(new, "SK")
    pipeline = pipeline_of(pk)
    if pipeline is None or not sk:
        return []
    if sk.startswith(RUNLOG_SK_PREFIX):
        publish_lifecycle(pipeline, new, old)
        return []
    source = _source(sk)
    if source is None:
        return []
    if old and _meaningful(old) == _meaningful(new):
        return []  # rewritten unchanged: no transition
    status = attribute(new, "status") or str(_data(new).get("status") or "")
    if status and status != TraitStatus.PASS.value:
        return []  # a pushed FAIL cannot make the pipeline READY
    rt = runtime()
    starter = rt.executions()
    schedule = attribute(new, "scheduleID") or attribute(new, "scheduleId")
    try:
        schedules = [schedule] if schedule else [s.name for s in rt.deps.pipeline(pipeline).schedule_list()]
    except UnknownPipeline:
        log.warning("stream record for unknown pipeline %r ignored", pipeline)
        return []
    digest = hashlib.sha256(json.dumps(new or keys, sort_keys=True).encode()).hexdigest()[:12]
    names = []
    for name_of_schedule in schedules:
        name = execution_name(pipeline, name_of_schedule, source, digest)
        starter.start(name, execution_input(pipeline, name_of_schedule, source))
        names.append(name)
    return names


def publish_lifecycle(pipeline: str, new: dict[str, Any], old: dict[str, Any]) -> str | None:
    """Publish the run log's transition, if it is one and not published before; return its event type.

    A redelivered record finds the event remembered as sent and publishes nothing.
    """
    topic = os.environ.get(ENV_LIFECYCLE_TOPIC)
    status = attribute(new, "status") or str(_data(new).get("status") or "")
    event_type = LIFECYCLE.get(status)
    if not topic or event_type is None or LIFECYCLE.get(attribute(old, "status")) == event_type:
        return None
    data = _data(new)
    run_id = attribute(new, "runId") or data.get("runId")
    message = {"eventType": event_type, "pipelineId": pipeline, "status": status,
               "scheduleId": attribute(new, "scheduleID") or data.get("scheduleId"),
               "date": attribute(new, "date") or data.get("date"), "runId": run_id,
               "attempt": data.get("attemptNumber"), "failureCategory": data.get("failureCategory"),
               "message": data.get("failureMessage"), "timestamp": runtime().now().isoformat()}
    rt = runtime()
    published = f"lifecycle:{pipeline}:{run_id}:{event_type}"
    if rt.deps.store.get_value(published) is not None:
        return None
    rt.sns_client().publish(
        TopicArn=topic, Message=json.dumps({k: v for k, v in message.items() if v is not None}),
        MessageAttributes={"eventType": {"DataType": "String", "StringValue": event_type}})
    # Remembered only once sent: a failed publish is retried with the record, never lost.
    rt.deps.store.put_value(published, "1", LIFECYCLE_DEDUP_TTL)
    return event_type


def attribute(image: dict[str, Any], name: str) -> str:
    """A scalar attribute of a stream image as text; "" when absent or not a scalar."""
    value = image.get(name)
    if not isinstance(value, dict):
        return ""
    for kind in ("S", "N"):
        if isinstance(value.get(kind), str):
            return str(value[kind])
    if isinstance(value.get("BOOL"), bool):
        return str(value["BOOL"]).lower()
    return ""


def _image(change: dict[str, Any], name: str) -> dict[str, Any]:
    image = change.get(name)
    return image if isinstance(image, dict) else {}


def _data(image: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(attribute(image, "data") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _source(sk: str) -> str | None:
    """``push-<trait>`` / ``marker-<source>`` for the items that announce input, else None."""
    for prefix, label in INPUT_PREFIXES:
        if sk.startswith(prefix):
            detail = sk[len(prefix):].split("#", 1)[0]
            return f"{label}-{detail}" if detail else label
    return None


def _meaningful(image: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in image.items() if k not in VOLATILE}


def _sequence(record: dict[str, Any]) -> str:
    change = record.get("dynamodb")
    sequence = change.get("SequenceNumber") if isinstance(change, dict) else None
    return sequence if isinstance(sequence, str) else ""
