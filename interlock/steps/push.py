"""The push step: record a trait result an outside system reports (a marker, a check it ran)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from interlock.config.merge import resolve_traits
from interlock.errors import BadPush
from interlock.model import Event, EventKind, TraitEvaluation, TraitStatus
from interlock.steps.deps import Deps
from interlock.store.base import TraitSource

PUSHABLE = (TraitStatus.PASS, TraitStatus.FAIL)


def push_trait(deps: Deps, pipeline_name: str, trait_type: str, status: TraitStatus | str, *,
               value: dict[str, Any] | None = None, reason: str | None = None,
               ttl: int | None = None) -> TraitEvaluation:
    """Store a pushed result for ``trait_type`` and record a TRAIT_PUSHED event.

    ``ttl`` defaults to the trait's TTL (0 = valid until replaced). Raises UnknownPipeline, or
    BadPush for an unknown trait, a status other than PASS/FAIL or a negative TTL; nothing is
    stored then.
    """
    pipeline = deps.pipeline(pipeline_name)
    traits = {t.type: t for t in resolve_traits(deps.archetype(pipeline), pipeline)}
    if trait_type not in traits:
        raise BadPush(f"pipeline {pipeline_name!r} has no trait {trait_type!r} (it has: {', '.join(traits)})")
    try:
        parsed = TraitStatus(status)
    except ValueError:
        raise BadPush(f"status must be PASS or FAIL, got {status!r}", "status") from None
    if parsed not in PUSHABLE:
        raise BadPush(f"status must be PASS or FAIL, got {status!r}", "status")
    if ttl is not None and ttl < 0:
        raise BadPush(f"ttl must be >= 0 seconds, got {ttl}", "ttl")
    effective_ttl = traits[trait_type].ttl if ttl is None else ttl
    now = deps.clock.now()
    result = TraitEvaluation(
        pipeline_id=pipeline_name, trait_type=trait_type, status=parsed, value=value, reason=reason,
        evaluated_at=now, expires_at=now + timedelta(seconds=effective_ttl) if effective_ttl > 0 else None,
        source=TraitSource.PUSH.value,
    )
    deps.store.put_trait(result, effective_ttl, TraitSource.PUSH)
    deps.store.append_event(Event(
        kind=EventKind.TRAIT_PUSHED, pipeline_id=pipeline_name, trait_type=trait_type, status=parsed.value,
        message=reason, timestamp=now,
        details={k: v for k, v in {"value": value, "reason": reason, "ttl": effective_ttl}.items() if v is not None},
    ))
    return result
