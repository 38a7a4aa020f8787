"""The worker's consumer: nothing a message carries can stop the worker or reach a step unchecked.

Celery hands every task message to ``Consumer.create_task_handler``'s callback on the consumer's
thread. Out of the box, a body of the wrong shape (``{"a": 1}``, ``42``) raises inside Celery's
strategy (``ValueError: not enough values to unpack``), the exception escapes the event loop,
the worker exits with "Unrecoverable error", the late-ack message is restored, and every worker
that takes it next dies the same way. Undecodable bodies and unknown task names were logged and
dropped, and a forged message with well-typed but senseless arguments ran its step.

This consumer (installed with Celery's ``worker_consumer`` setting) checks each message before
Celery's strategy sees it: the body decodes, is ``[args, kwargs, embed]``, names an Interlock
step, and its arguments pass the step's request model (``interlock/steps/registry.py``,
including the checks against the project). A message that fails, or that still makes Celery
raise while taking it, is kept in the dead-letter list (:mod:`interlock.deadletters`) with the
reason and acknowledged; the worker goes on. Celery's own hooks for bad messages
(``on_decode_error``, ``on_unknown_message``, ``on_unknown_task``, ``on_invalid_task``)
dead-letter too, instead of only logging.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer
from kombu.exceptions import ContentDisallowed, DecodeError
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from interlock.errors import InvalidStepRequest
from interlock.steps.registry import STEPS, parse_request
from workers.context import deps_for

log = logging.getLogger(__name__)

TASK_PREFIX = "interlock."
# Exceptions Celery raises while turning a malformed message into a request (the data's fault,
# not the connection's): dead-letter the message instead of letting them stop the worker. A net
# for what problem_with did not foresee; what it foresees never gets that far (an error after
# Celery reserved the request would leave its slot taken: see TaskHeaders).
MESSAGE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, LookupError, OverflowError,
                  UnicodeError)


Number = StrictInt | StrictFloat


class TaskHeaders(BaseModel):
    """The protocol-2 headers Celery reads after accepting a message, with the types it assumes.

    Celery checks a few of them itself (``eta``, ``expires``) before it reserves the request; a
    wrong type in the others (``timelimit: "abc"``) raises only after the request was reserved,
    which leaves the worker alive but waiting forever on a slot the request never frees.
    """

    model_config = ConfigDict(extra="allow", strict=True)
    id: StrictStr = Field(min_length=1, max_length=255)
    task: StrictStr
    lang: StrictStr | None = None
    shadow: StrictStr | None = None
    eta: StrictStr | None = None
    expires: StrictStr | Number | None = None
    group: StrictStr | None = None
    group_index: StrictInt | None = None
    retries: StrictInt = Field(default=0, ge=0)
    timelimit: list[Number | None] | None = Field(default=None, min_length=2, max_length=2)
    root_id: StrictStr | None = None
    parent_id: StrictStr | None = None
    argsrepr: StrictStr | None = None
    kwargsrepr: StrictStr | None = None
    origin: StrictStr | None = None
    ignore_result: StrictBool | None = None
    replaced_task_nesting: StrictInt | None = None
    stamped_headers: list[StrictStr] | None = None
    stamps: dict[str, Any] | None = None
    redelivered: StrictBool | None = None


# What a task message's options may hold: Interlock never chains, calls back or builds chords, so a
# message asking Celery to run more tasks after this one is refused.
OPTION_KEYS = frozenset({"callbacks", "errbacks", "chain", "chord"})


class Consumer(CeleryConsumer):  # type: ignore[misc]
    def create_task_handler(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        celery_handler = super().create_task_handler(*args, **kwargs)
        passing = self.connection_errors + self.channel_errors

        def on_task_received(message: Any) -> Any:
            problem = self.problem_with(message)
            if problem is not None:
                return self.dead_letter(message, problem)
            try:
                return celery_handler(message)
            except passing:
                raise
            except MESSAGE_ERRORS as exc:
                return self.dead_letter(message, f"the worker could not take the message: {exc!r}")

        return on_task_received

    def problem_with(self, message: Any) -> str | None:
        """Why this message must not run; None when it may (or when Celery's own hooks decide)."""
        headers = message.headers
        name = headers.get("task") if isinstance(headers, dict) else None
        if not isinstance(name, str):
            return None  # not a protocol-2 task message: Celery's on_unknown_message / on_decode_error
        step = name.removeprefix(TASK_PREFIX) if name.startswith(TASK_PREFIX) else None
        if step not in STEPS:
            if name in self.app.tasks:  # Celery's built-in tasks: nothing Interlock sends
                return f"task {name[:80]!r} is not an Interlock step"
            return None  # unregistered: Celery's on_unknown_task
        try:
            TaskHeaders.model_validate(headers)
        except ValidationError as exc:
            first = exc.errors()[0]
            return f"bad header {first['loc'][0]}: {first['msg']} (got {str(first.get('input'))[:60]!r})"
        try:
            body = message.payload  # decoded once; Celery reuses it
        except (DecodeError, ContentDisallowed) as exc:
            return f"the body cannot be decoded: {exc}"
        if not (isinstance(body, list | tuple) and len(body) == 3 and isinstance(body[0], list | tuple)
                and isinstance(body[1], dict) and isinstance(body[2], dict | None)):
            return f"the body is not a task's [args, kwargs, options] (got {_kind(body)})"
        options = body[2] or {}
        if set(options) - OPTION_KEYS or any(options.get(key) for key in OPTION_KEYS):
            return "the message asks for callbacks, a chain or a chord, which Interlock never sends"
        try:
            request = parse_request(step, body[0], body[1])
            if request.needs_project:
                request.check(deps_for(self.app))
        except InvalidStepRequest as exc:
            return str(exc)
        except Exception:  # the store is unreachable, say: not the message's fault; the step decides
            log.warning("could not check %s against the project; passing it on", name, exc_info=True)
        return None

    def dead_letter(self, message: Any, reason: str) -> None:
        """Keep the message with ``reason`` in the dead-letter list and acknowledge it."""
        channel = message.channel
        queue = getattr(channel, "delivering_from", None) or str((message.delivery_info or {}).get("routing_key"))
        headers = message.headers if isinstance(message.headers, dict) else {}
        task = headers.get("task") if isinstance(headers.get("task"), str) else None
        log.error("dead-lettered a message from queue %r (task %r): %s", queue, task, reason)
        letters = channel.dead_letters() if hasattr(channel, "dead_letters") else None
        if letters is not None:
            raw = getattr(message, "_raw", None)  # the envelope as it was on the queue (kombu's virtual transports)
            try:
                letters.add(json.dumps(raw) if isinstance(raw, dict) else message.body or b"", queue, reason, task)
            except self.connection_errors:
                raise  # not acknowledged: the message is restored and dead-lettered after the reconnect
            except Exception:
                log.exception("could not keep the dead letter; the message is dropped")
        message.ack_log_error(log, self.connection_errors)

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self.dead_letter(message, f"the message cannot be decoded: {exc}")

    def on_unknown_message(self, body: Any, message: Any) -> None:
        self.dead_letter(message, "not a Celery task message (no task name)")

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        name = message.headers.get("task") if isinstance(message.headers, dict) else None
        self.dead_letter(message, f"no task is called {str(name)[:80]!r}")

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        self.dead_letter(message, f"invalid task message: {exc}")


def _kind(body: Any) -> str:
    if isinstance(body, list | tuple):
        return f"a list of {len(body)}"
    return {dict: "an object", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(body), type(body).__name__)
