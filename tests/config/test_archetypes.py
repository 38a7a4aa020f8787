"""Archetypes and trait resolution as the reference does it (fixed: duplicates across files are errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.config import ConfigInvalid, load_project, resolve_traits
from interlock.model import Archetype, PipelineConfig, ReadinessRuleType
from tests.conftest import SIMPLE_ARCHETYPE, ProjectFactory

WORKED_EXAMPLE = Archetype.model_validate({
    "name": "a",
    "requiredTraits": [{"type": "freshness", "defaultConfig": {"maxLagSeconds": 300},
                        "defaultTtl": 300, "defaultTimeout": 30}],
    "optionalTraits": [{"type": "quality"}],
    "readinessRule": {"type": "all-required-pass"},
})


def pipeline(**traits: object) -> PipelineConfig:
    return PipelineConfig.model_validate({"name": "pp", "archetype": "a", "traits": traits})


def test_reference_test_archetype_loads_with_two_required_and_one_optional(reference_project: Path) -> None:
    archetype = load_project(reference_project / "interlock.yaml", env={}).archetypes["test-archetype"]
    assert [t.type for t in archetype.required_traits] == ["freshness", "availability"]
    assert [t.type for t in archetype.optional_traits or []] == ["quality"]


def test_starter_archetypes_load_with_all_required_pass(reference_project: Path) -> None:
    archetypes = load_project(reference_project / "interlock.yaml", env={}).archetypes
    for name in ("batch-ingestion", "streaming-enrichment", "ml-feature-pipeline"):
        assert archetypes[name].required_traits
        assert archetypes[name].readiness_rule.type is ReadinessRuleType.ALL_REQUIRED_PASS


def test_pipeline_with_unknown_archetype_is_reported_with_a_hint(make_project: ProjectFactory) -> None:
    path = make_project(archetypes__simple_yaml=SIMPLE_ARCHETYPE,
                        pipelines__p_yaml="name: orders\narchetype: simpel\n")
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    (error,) = exc.value.errors
    assert error.path == "archetype"
    assert "unknown archetype 'simpel' (did you mean 'simple'?)" in error.message


def test_resolution_applies_overrides_field_by_field() -> None:
    resolved = resolve_traits(WORKED_EXAMPLE, pipeline(
        freshness={"evaluator": "./eval", "config": {"maxLagSeconds": 60}, "ttl": 120, "timeout": 15},
        quality={"evaluator": "./quality-eval"},
    ))
    assert [(t.type, t.required, t.evaluator, t.config, t.ttl, t.timeout) for t in resolved] == [
        ("freshness", True, "./eval", {"maxLagSeconds": 60}, 120, 15),
        ("quality", False, "./quality-eval", {}, 0, 0),
    ]


def test_resolution_without_pipeline_gives_required_traits_with_defaults() -> None:
    (only,) = resolve_traits(WORKED_EXAMPLE)
    assert (only.type, only.config, only.ttl, only.timeout, only.evaluator) == (
        "freshness", {"maxLagSeconds": 300}, 300, 30, "")


def test_zero_ttl_and_timeout_keep_the_archetype_values() -> None:
    (only,) = resolve_traits(WORKED_EXAMPLE, pipeline(freshness={"ttl": 0, "timeout": 0}))
    assert (only.ttl, only.timeout) == (300, 30)


def test_negative_ttl_is_rejected_at_load() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        pipeline(freshness={"ttl": -5})


def test_config_merge_is_shallow_and_leaves_the_archetype_untouched() -> None:
    archetype = Archetype.model_validate({
        "name": "a",
        "requiredTraits": [{"type": "t", "defaultConfig": {"a": 1, "nested": {"x": 1, "y": 2}}}],
        "readinessRule": {"type": "all-required-pass"},
    })
    (only,) = resolve_traits(archetype, pipeline(t={"config": {"b": 2, "nested": {"x": 5}}}))
    assert only.config == {"a": 1, "b": 2, "nested": {"x": 5}}
    assert archetype.required_traits[0].default_config == {"a": 1, "nested": {"x": 1, "y": 2}}


@pytest.mark.parametrize("entry", [{}, None])
def test_optional_trait_mentioned_with_an_empty_entry_is_included(entry: object) -> None:
    resolved = resolve_traits(WORKED_EXAMPLE, pipeline(quality=entry))
    assert [(t.type, t.required, t.evaluator) for t in resolved] == [("freshness", True, ""), ("quality", False, "")]


def test_optional_trait_not_mentioned_is_excluded() -> None:
    assert [t.type for t in resolve_traits(WORKED_EXAMPLE, pipeline())] == ["freshness"]


def test_trait_key_unknown_to_the_archetype_is_rejected_at_load(make_project: ProjectFactory) -> None:
    path = make_project(archetypes__simple_yaml=SIMPLE_ARCHETYPE,
                        pipelines__p_yaml="name: orders\narchetype: simple\ntraits:\n  freshnes: {}\n")
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    (error,) = exc.value.errors
    assert (error.path, error.line) == ("traits.freshnes", 4)
    assert "(did you mean 'freshness'?)" in error.message


def test_resolved_order_is_required_then_optional_in_archetype_order() -> None:
    archetype = Archetype.model_validate({
        "name": "a",
        "requiredTraits": [{"type": "r1"}, {"type": "r2"}],
        "optionalTraits": [{"type": "o1"}, {"type": "o2"}],
        "readinessRule": {"type": "all-required-pass"},
    })
    resolved = resolve_traits(archetype, pipeline(o2={}, r2={}, o1={}))
    assert [t.type for t in resolved] == ["r1", "r2", "o1", "o2"]


@pytest.mark.parametrize(("body", "path", "fragment"), [
    ("requiredTraits: [{type: t}]\nreadinessRule: {type: all-required-pass}\n", "name", "field required"),
    ("name: a\nrequiredTraits: []\nreadinessRule: {type: all-required-pass}\n", "requiredTraits", "must not be empty"),
    ("name: a\nrequiredTraits: [{description: x}]\nreadinessRule: {type: all-required-pass}\n",
     "requiredTraits[0].type", "field required"),
    ("name: a\nrequiredTraits: [{type: t}]\noptionalTraits: [{description: x}]\n"
     "readinessRule: {type: all-required-pass}\n", "optionalTraits[0].type", "field required"),
    ("name: a\nrequiredTraits: [{type: t}, {type: t}]\nreadinessRule: {type: all-required-pass}\n",
     "requiredTraits[1].type", "duplicate trait type 't'"),
    ("name: a\nrequiredTraits: [{type: t}]\noptionalTraits: [{type: t}]\nreadinessRule: {type: all-required-pass}\n",
     "optionalTraits[0].type", "duplicate trait type 't'"),
    ("name: a\nrequiredTraits: [{type: t}]\nreadinessRule: {}\n", "readinessRule.type", "field required"),
    ("name: a\nrequiredTraits: [{type: t}]\nreadinessRule: {type: custom}\n", "readinessRule.type",
     "must be one of 'all-required-pass' or 'majority-pass', got 'custom'"),
])
def test_invalid_archetype_is_reported_with_its_field(
    make_project: ProjectFactory, body: str, path: str, fragment: str
) -> None:
    with pytest.raises(ConfigInvalid) as exc:
        load_project(make_project(archetypes__bad_yaml=body), env={})
    assert any(e.path == path and fragment in e.message and e.file.endswith("archetypes/bad.yaml")
               for e in exc.value.errors), exc.value.errors


def test_archetype_dir_skips_other_files_and_subdirectories_and_reads_yml(make_project: ProjectFactory) -> None:
    path = make_project(
        archetypes__simple_yml=SIMPLE_ARCHETYPE,
        archetypes__README_md="not yaml: [",
        archetypes__nested__other_yaml="garbage: [",
    )
    assert list(load_project(path, env={}).archetypes) == ["simple"]


def test_one_invalid_archetype_file_fails_the_project(make_project: ProjectFactory) -> None:
    path = make_project(archetypes__simple_yaml=SIMPLE_ARCHETYPE, archetypes__zbad_yaml="name: z\n")
    with pytest.raises(ConfigInvalid):
        load_project(path, env={})


def test_two_files_defining_one_archetype_is_an_error_naming_both(make_project: ProjectFactory) -> None:
    path = make_project(archetypes__a_yaml=SIMPLE_ARCHETYPE, archetypes__b_yaml=SIMPLE_ARCHETYPE)
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    (error,) = exc.value.errors
    assert error.file.endswith("archetypes/b.yaml")
    assert "archetype 'simple' is already defined in" in error.message and "archetypes/a.yaml" in error.message


@pytest.mark.parametrize(("threshold", "fragment"), [
    (5, "must be between 1 and 3"),
    (0, "must be between 1 and 3"),
    (1.9, "must be a whole number"),
    ("two", "must be a whole number"),
])
def test_majority_threshold_outside_one_to_n_is_rejected(
    make_project: ProjectFactory, threshold: object, fragment: str
) -> None:
    body = ("name: m\nrequiredTraits: [{type: a}, {type: b}, {type: c}]\n"
            f"readinessRule: {{type: majority-pass, parameters: {{threshold: {threshold!r}}}}}\n")
    with pytest.raises(ConfigInvalid) as exc:
        load_project(make_project(archetypes__m_yaml=body.replace("'", "")), env={})
    (error,) = exc.value.errors
    assert error.path == "readinessRule.parameters.threshold"
    assert fragment in error.message


@pytest.mark.parametrize("threshold", ["2", "2.0"])
def test_majority_threshold_as_integer_or_whole_float_is_accepted(
    make_project: ProjectFactory, threshold: str
) -> None:
    body = ("name: m\nrequiredTraits: [{type: a}, {type: b}, {type: c}]\n"
            f"readinessRule: {{type: majority-pass, parameters: {{threshold: {threshold}}}}}\n")
    archetype = load_project(make_project(archetypes__m_yaml=body), env={}).archetypes["m"]
    assert archetype.readiness_rule.parameters == {"threshold": float(threshold) if "." in threshold else 2}
