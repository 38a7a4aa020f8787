"""What each step accepts as arguments, checked once at the boundary before the step runs.

A step's arguments arrive from outside the process: a Celery message (anyone who can write to
the broker can write one), a Lambda event. Each step has one request model here (the step
registry, ``registry.py``, names each step's); the Celery worker's guard (``workers/guard.py``)
validates every message against it before the message reaches a task, and the Lambda handlers
validate their events with the same models. A request that fails is never run: the worker
dead-letters it with the reason, a Lambda raises :class:`InvalidStepRequest`.

Two levels:

* :func:`validate` (by step name: :func:`interlock.steps.registry.parse_request`) checks types,
  names and grammar (no I/O): a pipeline name matches the configuration's pattern, a period is
  shaped like a period key (a date, or a cron period's start), an attempt is an int from 1 to the
  largest ``retry.maxAttempts``.
* ``check(deps)`` on the requests that start work checks them against the project: the pipeline
  and schedule exist and the period has begun. Requests that only *look* at a pipeline
  (``advance``, ``check_sla``) are not checked against the project on purpose: a pipeline deleted
  while its due entry was queued is normal, and those steps clear the due entry themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from interlock import timeutil
from interlock.errors import BadInput, InvalidStepRequest, UnknownPipeline, UnknownSchedule
from interlock.model import MAX_ATTEMPTS, PIPELINE_NAME_PATTERN, SCHEDULE_NAME_MAX, SCHEDULE_NAME_PATTERN
from interlock.periods import period_at, period_for_key
from interlock.schedule import find_schedule

if TYPE_CHECKING:  # deps imports the dispatcher, which runs steps through the registry, which imports this
    from interlock.steps.deps import Deps

# Run ids are built from names and period keys (``orders-daily-2026-01-05-2``, ``rerun-orders-
# 1a2b3c4d5e-run``); this alphabet covers those and keeps them safe in keys and logs.
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:+-]*$"
RUN_ID_MAX = 512
# Longest completion message a callback may carry (characters); the API caps its bodies too.
MESSAGE_MAX = 4096
# How far ahead of this process's clock a sender's clock may be (a period that begins within
# this of now is accepted): two hosts straddling midnight must not refuse each other's requests.
CLOCK_SKEW = timedelta(minutes=5)
# How much of a rejected value an error repeats (characters): enough to recognise it.
SHOWN = 60
# Period keys of either kind of schedule (interlock/periods.py); the schedule decides which is right.
_PERIOD_KEY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{4}([pm][0-9]{4})?)?$")


def check_period_key(value: str) -> str:
    """The grammar every schedule's keys share: a date (daily) or a local start ``YYYY-MM-DDTHHMM`` (cron).

    No I/O here; whether the key names a period of *this* schedule is PeriodRequest.check's
    question (period_for_key). Raises ValueError saying what a key looks like.
    """
    if value[10:11] != "T":
        timeutil.parse_date(value)  # a daily key, refused with the message it always had
        return value
    if not _PERIOD_KEY.match(value):
        raise ValueError(f"invalid period {value[:SHOWN]!r}: expected YYYY-MM-DDTHHMM (a cron period's local "
                         "start, e.g. '2026-03-01T1400') or YYYY-MM-DD (a daily period)")
    timeutil.parse_date(value[:10])  # a real calendar day (the error says why not)
    if int(value[11:13]) > 23 or int(value[13:15]) > 59:
        raise ValueError(f"invalid period {value!r}: hour must be 00-23 and minute 00-59")
    return value


PipelineName = Annotated[StrictStr, Field(pattern=PIPELINE_NAME_PATTERN, min_length=2, max_length=255)]
ScheduleName = Annotated[StrictStr, Field(pattern=SCHEDULE_NAME_PATTERN, max_length=SCHEDULE_NAME_MAX)]
PeriodKey = Annotated[StrictStr, AfterValidator(check_period_key)]
Attempt = Annotated[StrictInt, Field(ge=1, le=MAX_ATTEMPTS)]
RunId = Annotated[StrictStr, Field(pattern=RUN_ID_PATTERN, max_length=RUN_ID_MAX)]
TraitType = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$", max_length=255)]


class StepRequest(BaseModel):
    """Base of every step request: exact types, no unknown arguments."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    step: ClassVar[str] = ""
    #: Whether :meth:`check` reads the project (callers skip building Deps when it does not).
    needs_project: ClassVar[bool] = False

    def check(self, deps: Deps) -> None:
        """Check the request against the project; raise :class:`InvalidStepRequest`. Nothing by default."""


class PipelineScheduleRequest(StepRequest):
    """``advance`` and ``check_sla``: one (pipeline, schedule)."""

    pipeline: PipelineName
    schedule: ScheduleName


class PeriodRequest(StepRequest):
    """A request for one period of one (pipeline, schedule), which must exist and have begun."""

    needs_project: ClassVar[bool] = True
    pipeline: PipelineName
    schedule: ScheduleName
    period: PeriodKey

    def check(self, deps: Deps) -> None:
        try:
            config = deps.pipeline(self.pipeline)
        except UnknownPipeline as exc:
            # A worker registers the project's pipelines on a thread of its own after it starts
            # consuming: a pipeline in the project's files is known, registered yet or not.
            found = deps.project.pipelines.get(self.pipeline)
            if found is None:
                raise InvalidStepRequest(self.step, [("pipeline", str(exc))]) from None
            config = found
        try:
            schedule = find_schedule(config, self.schedule)
        except UnknownSchedule as exc:
            raise InvalidStepRequest(self.step, [("schedule", str(exc))]) from None
        try:
            period = period_for_key(config, schedule, self.period)
        except BadInput as exc:
            raise InvalidStepRequest(self.step, [("period", str(exc))]) from None
        # The period was computed by whichever process sent the request: allow for its clock being ahead.
        current = period_at(config, schedule, deps.clock.now() + CLOCK_SKEW)
        if period.opens > current.opens:  # instants, never key spellings
            raise InvalidStepRequest(self.step, [("period", f"{self.period!r} has not begun (the current period of "
                                                            f"{self.pipeline}/{schedule.name} is {current.key!r})")])


class TriggerRequest(PeriodRequest):
    step: ClassVar[str] = "trigger"
    attempt: Attempt


class EvaluateTraitRequest(PeriodRequest):
    """One trait of a pipeline for one period (the AWS state machine's Map iteration)."""

    step: ClassVar[str] = "evaluate_trait"
    trait: TraitType


class RunRequest(StepRequest):
    """``check_run``, ``monitor``, ``check_stuck``: one run (an unknown run id is the step's no-op)."""

    step: ClassVar[str] = "check_run"
    run_id: RunId


class CompleteRunRequest(StepRequest):
    run_id: RunId
    success: StrictBool
    metadata: dict[str, Any] | None = None
    message: Annotated[StrictStr, Field(max_length=MESSAGE_MAX)] | None = None


class RerunRequest(StepRequest):
    rerun_id: RunId


class DeliveryRequest(StepRequest):
    """``deliver_alert``: one outboxed alert (an unknown or finished delivery is the step's no-op)."""

    delivery_id: RunId


class NoArguments(StepRequest):
    """``reconcile`` and ``archive`` take nothing."""


Request = TypeVar("Request", bound=StepRequest)


def validate(model: type[Request], args: Sequence[Any], kwargs: Mapping[str, Any], step: str) -> Request:
    """Validate arguments against ``model`` (the Lambda handlers name theirs directly).

    :func:`interlock.steps.registry.parse_request` finds the model by the step's name.
    """
    fields = list(model.model_fields)
    if len(args) > len(fields):
        raise InvalidStepRequest(step, [("args", f"takes at most {len(fields)} positional arguments, got {len(args)}")])
    data = dict(kwargs)
    for name, value in zip(fields, args, strict=False):
        if name in data:
            raise InvalidStepRequest(step, [(name, "given both positionally and by name")])
        data[name] = value
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidStepRequest(step, [_problem(error) for error in exc.errors()]) from None


def _problem(error: Any) -> tuple[str, str]:
    field = ".".join(str(part) for part in error["loc"]) or "request"
    kind = error["type"]
    if kind == "missing":
        return field, "required"
    if kind == "extra_forbidden":
        return field, "unexpected argument"
    reason = re.sub(r"^Value error, ", "", error["msg"])
    reason = reason.replace("Input should be", "must be").replace("String should", "must")
    if kind != "value_error":  # a value error's message quotes the value already
        reason += f" (got {_shown(error.get('input'))})"
    return field, reason


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"
