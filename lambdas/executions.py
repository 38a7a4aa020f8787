"""Starting lifecycle executions: deterministic names, so a repeated start starts nothing new.

Step Functions keeps an execution name reserved for 90 days: starting the same name again fails
with ``ExecutionAlreadyExists`` (or, for a still-running STANDARD execution with identical input,
returns it). Every caller therefore derives the name from *why* it starts one (the stream record,
the upstream run, the reconcile minute), and treats "already exists" as success.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

from botocore.exceptions import ClientError

from interlock import tracing

log = logging.getLogger(__name__)

# Step Functions' limit on an execution name (characters).
MAX_NAME = 80
# Hex digits of the hash that replaces the tail of a name too long to keep whole.
HASH_DIGITS = 10
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def execution_name(*parts: str) -> str:
    """``a:b:c`` with every character outside ``[A-Za-z0-9_-]`` as ``_``, at most 80 characters.

    A name that would be longer keeps its head and ends in a hash of the whole, so two long
    pipeline ids never collide by truncation (the reference cut them and lost the date).
    """
    raw = ":".join(parts)
    name = _UNSAFE.sub("_", raw)
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(raw.encode()).hexdigest()[:HASH_DIGITS]
    return f"{name[:MAX_NAME - HASH_DIGITS - 1]}_{digest}"


def execution_input(pipeline: str, schedule: str, source: str) -> dict[str, str]:
    """The state machine's input (capital-D keys, as the reference's ASL reads them).

    With tracing on, inside a span, it also carries the span's W3C ``traceparent``: the state
    machine hands it to every Lambda task, whose span continues the trace. Off, nothing is added.
    """
    return {"pipelineID": pipeline, "scheduleID": schedule, "source": source, **tracing.inject()}


class ExecutionStarter:
    """Starts executions of one state machine; idempotent by name."""

    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self.client = client
        self.arn = state_machine_arn

    def start(self, name: str, payload: dict[str, Any]) -> bool:
        """Start ``name``; True if started now, False if it already existed. Other errors raise."""
        try:
            self.client.start_execution(stateMachineArn=self.arn, name=name, input=json.dumps(payload))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                log.info("execution %s already exists: nothing new started", name)
                return False
            raise
        log.info("started execution %s", name)
        return True


class ExecutionDispatcher:
    """A step's "advance this pipeline now" becomes an execution; other asks are left to the due index.

    ``reason`` makes the name: the same reason for the same (pipeline, schedule) starts one
    execution however often it is asked (a retried Lambda, a redelivered record).
    """

    def __init__(self, starter: ExecutionStarter, reason: str) -> None:
        self.starter = starter
        self.reason = reason
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.started: list[str] = []

    def send(self, step: str, **kwargs: Any) -> None:
        self.sent.append((step, kwargs))
        if step != "advance":
            return  # the step already left a due time; the watchdog's reconcile runs it
        pipeline, schedule = str(kwargs["pipeline"]), str(kwargs["schedule"])
        name = execution_name(pipeline, schedule, self.reason)
        self.starter.start(name, execution_input(pipeline, schedule, self.reason))
        self.started.append(name)

    sweep = send
