"""Trait resolution: an archetype's traits with a pipeline's overrides applied.

Kept from the reference, because existing pipelines rely on it: required traits in archetype
order, then the optional traits the pipeline mentions; ``config`` is merged shallowly (a pipeline
key replaces the archetype's key wholesale); ``ttl``/``timeout`` override only when positive. Trait
keys the archetype does not define are rejected at load time instead of being ignored.
"""

from __future__ import annotations

import copy

from interlock.model import Archetype, PipelineConfig, ResolvedTrait, TraitConfig, TraitDefinition


def resolve_traits(archetype: Archetype, pipeline: PipelineConfig | None = None) -> list[ResolvedTrait]:
    """The ordered list of traits ``pipeline`` is evaluated on."""
    overrides: dict[str, TraitConfig | None] = dict(pipeline.traits or {}) if pipeline else {}
    resolved = [_resolve(d, True, overrides.get(d.type)) for d in archetype.required_traits]
    for definition in archetype.optional_traits or []:
        if definition.type in overrides:  # presence of the key includes it, even when empty
            resolved.append(_resolve(definition, False, overrides[definition.type]))
    return resolved


def _resolve(definition: TraitDefinition, required: bool, override: TraitConfig | None) -> ResolvedTrait:
    config = copy.deepcopy(definition.default_config or {})
    evaluator, ttl, timeout = "", definition.default_ttl or 0, definition.default_timeout or 0
    if override is not None:
        evaluator = override.evaluator or ""
        config.update(copy.deepcopy(override.config or {}))
        if override.ttl and override.ttl > 0:
            ttl = override.ttl
        if override.timeout and override.timeout > 0:
            timeout = override.timeout
    return ResolvedTrait(
        type=definition.type,
        description=definition.description or "",
        required=required,
        evaluator=evaluator,
        config=config,
        ttl=ttl,
        timeout=timeout,
    )
