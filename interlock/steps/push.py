"""The push step: record a trait result an outside system reports (a marker, a check it ran).

What a push may carry is one model, :class:`PushRequest`: the API takes it as its request body,
and :func:`push_trait` (the CLI, tests, any caller) validates its arguments with it, so both entry
points accept and refuse exactly the same pushes, with the same words. A push cannot ask for "never
expires" (ttl 0); that is the trait's own configured TTL, used when the push names none.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError, to_json

from interlock import strictjson
from interlock.config.merge import resolve_traits
from interlock.errors import BadPush
from interlock.model import Event, EventKind, PipelineConfig, TraitEvaluation, TraitStatus
from interlock.steps.deps import Deps
from interlock.store.base import TraitSource

PUSHABLE = (TraitStatus.PASS.value, TraitStatus.FAIL.value)
# Longest a pushed result may stay valid, in seconds (366 days). A push cannot ask for "never
# expires" (ttl 0): that is the trait's own configured TTL, used when the push names none.
MAX_PUSH_TTL = 366 * 86_400
# Largest pushed value, in bytes of its compact JSON: the API's default request body limit, so a
# value the CLI can push could also have come through the API.
MAX_PUSH_VALUE_BYTES = 1_048_576
# Longest pushed reason, in characters.
MAX_PUSH_REASON = 10_000


def _problem(kind: str, message: str, got: object = None) -> PydanticCustomError:
    """A validation error whose message is ours; what was sent goes in as context, never as template."""
    return PydanticCustomError(kind, message, {"got": repr(got)[:100]})


def _status(value: Any) -> Any:
    if not isinstance(value, str) or value not in PUSHABLE:
        raise _problem("push_status", "must be PASS or FAIL, got {got}", value)
    return str(value)


class PushRequest(BaseModel):
    """A pushed result: what the API body holds and what every push is checked against."""

    status: Annotated[str, BeforeValidator(_status), Field(json_schema_extra={"enum": list(PUSHABLE)})]
    value: dict[str, Any] | None = Field(
        default=None, description=f"A JSON object, at most {MAX_PUSH_VALUE_BYTES} bytes as compact JSON.")
    reason: str | None = Field(default=None, json_schema_extra={"maxLength": MAX_PUSH_REASON})
    ttl: int | None = Field(
        default=None, json_schema_extra={"minimum": 1, "maximum": MAX_PUSH_TTL},
        description="Seconds the result stays valid; left out, the trait's TTL (0 there = until replaced).")

    @field_validator("ttl", mode="before")
    @classmethod
    def _ttl_in_range(cls, ttl: Any) -> Any:
        if ttl is None:
            return None
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= MAX_PUSH_TTL:
            raise _problem("push_ttl", f"must be a whole number of seconds from 1 to {MAX_PUSH_TTL} (366 days), "
                                       "got {got}; leave it out to use the trait's TTL", ttl)
        return ttl

    @field_validator("value")
    @classmethod
    def _value_storable(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        problem = strictjson.unstorable(value)
        if problem:
            raise _problem("push_value", f"cannot be stored: {problem}")
        try:
            size = len(to_json(value))
        except ValueError as exc:  # nested too deeply, or not JSON at all (a caller in Python)
            raise _problem("push_value", "cannot be stored as JSON: {got}", str(exc)) from None
        if size > MAX_PUSH_VALUE_BYTES:
            raise _problem("push_value", f"is {size} bytes as JSON; at most {MAX_PUSH_VALUE_BYTES} are accepted")
        return value

    @field_validator("reason")
    @classmethod
    def _reason_storable(cls, reason: str | None) -> str | None:
        if reason is None:
            return None
        if len(reason) > MAX_PUSH_REASON:
            raise _problem("push_reason", f"is {len(reason)} characters; at most {MAX_PUSH_REASON} are accepted")
        problem = strictjson.unstorable(reason)
        if problem:
            raise _problem("push_reason", f"cannot be stored: {problem}")
        return reason


def push_trait(deps: Deps, pipeline_name: str, trait_type: str, status: TraitStatus | str, *,
               value: dict[str, Any] | None = None, reason: str | None = None,
               ttl: int | None = None) -> TraitEvaluation:
    """Check a push against :class:`PushRequest`, then :func:`record_push` it.

    Raises BadPush naming the field and the allowed range (``ttl must be a whole number of seconds
    from 1 to 31622400 ...``), UnknownPipeline, or BadPush for an unknown trait; nothing is stored then.
    """
    try:
        request = PushRequest.model_validate({"status": status, "value": value, "reason": reason, "ttl": ttl})
    except ValidationError as exc:
        raise BadPush("; ".join(f"{'.'.join(str(p) for p in e['loc'])} {e['msg']}" for e in exc.errors())) from None
    with deps.store.batch():  # the result and its event: one round trip
        return record_push(deps, pipeline_name, trait_type, request)


def record_push(deps: Deps, pipeline_name: str, trait_type: str, request: PushRequest, *,
                config: PipelineConfig | None = None) -> TraitEvaluation:
    """Store a checked push for ``trait_type`` and record a TRAIT_PUSHED event.

    The TTL is the request's, else the trait's (0 = valid until replaced). ``config``: the pipeline
    as the caller just read it (saves reading it again). Raises UnknownPipeline, or BadPush for a
    trait the pipeline does not have; nothing is stored then.
    """
    pipeline = config if config is not None and config.name == pipeline_name else deps.pipeline(pipeline_name)
    traits = {t.type: t for t in resolve_traits(deps.archetype(pipeline), pipeline)}
    if trait_type not in traits:
        raise BadPush(f"pipeline {pipeline_name!r} has no trait {trait_type!r} (it has: {', '.join(traits)})")
    status = TraitStatus(request.status)
    effective_ttl = traits[trait_type].ttl if request.ttl is None else request.ttl
    now = deps.clock.now()
    result = TraitEvaluation(
        pipeline_id=pipeline_name, trait_type=trait_type, status=status, value=request.value,
        reason=request.reason, evaluated_at=now,
        expires_at=now + timedelta(seconds=effective_ttl) if effective_ttl > 0 else None,
        source=TraitSource.PUSH.value,
    )
    deps.store.put_trait(result, effective_ttl, TraitSource.PUSH)
    details = {"value": request.value, "reason": request.reason, "ttl": effective_ttl}
    deps.store.append_event(Event(
        kind=EventKind.TRAIT_PUSHED, pipeline_id=pipeline_name, trait_type=trait_type, status=status.value,
        message=request.reason, timestamp=now, details={k: v for k, v in details.items() if v is not None},
    ))
    return result
