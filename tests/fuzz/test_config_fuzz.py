"""Hostile configuration: whatever a pipeline file holds, loading ends in a project or ConfigInvalid.

Three sources of input: arbitrary text and bytes, arbitrary nested YAML-ish structures, and
mutations of a valid pipeline file (a value replaced, a key deleted, an unknown key added). Each
ends in a loaded project or :class:`ConfigInvalid` whose every error names a file and says what
is wrong — never another exception, never a hang (``no_hang``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlock.config import ConfigInvalid, Project, check_pipeline, load_project, yamlio
from interlock.config.yamlio import Document, YamlError, _Builder, dump, parse
from tests.fuzz.conftest import no_hang

FUZZ = settings.get_profile("interlock-fuzz")

CONFIG = """\
provider: redis
redis: {addr: "127.0.0.1:6379"}
archetypeDirs: [./archetypes]
pipelineDirs: [./pipelines]
calendarDirs: [./calendars]
evaluatorDirs: [./evaluators]
"""
ARCHETYPE = """\
name: simple
requiredTraits:
  - {type: freshness, defaultTtl: 300}
  - {type: marker}
optionalTraits:
  - {type: quality}
readinessRule: {type: all-required-pass}
"""
CALENDAR = "name: closing\ndays: [saturday]\ndates: ['2026-12-31']\n"
EVALUATOR = "#!/bin/sh\necho '{\"status\": \"PASS\"}'\n"

# A pipeline that uses every section, so mutations reach every part of the schema.
VALID: dict[str, Any] = {
    "name": "orders",
    "archetype": "simple",
    "tier": 2,
    "traits": {
        "freshness": {"evaluator": "check", "config": {"maxLagSeconds": 300}, "ttl": 60, "timeout": 10},
        "marker": {},
        "quality": {"evaluator": "builtin:data-quality"},
    },
    "trigger": {"type": "http", "pollInterval": "30s",
                "http": {"method": "POST", "url": "http://127.0.0.1:9/start/${pipelineId}",
                         "body": '{"date": "${date}"}', "headers": {"Authorization": "Bearer x"}, "timeout": 30}},
    "retry": {"maxAttempts": 3, "backoffSeconds": 10, "backoffMultiplier": 2.0},
    "sla": {"evaluationDeadline": "08:00", "completionDeadline": "+3h", "atRiskLeadTime": "30m",
            "validationTimeout": "4h", "timezone": "Europe/London"},
    "watch": {"interval": "1m", "monitoring": {"enabled": True, "duration": "2h"}},
    "schedules": [{"name": "morning", "after": "06:00", "deadline": "09:30", "timezone": "America/New_York"},
                  {"name": "h07", "after": "07:00"}],
    "exclusions": {"days": ["sunday"], "dates": ["2026-12-25"], "calendar": "closing"},
    "catchUp": "latest",
}


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzzed-project")
    for folder in ("archetypes", "pipelines", "calendars", "evaluators"):
        (root / folder).mkdir()
    (root / "interlock.yaml").write_text(CONFIG)
    (root / "archetypes" / "simple.yaml").write_text(ARCHETYPE)
    (root / "calendars" / "closing.yaml").write_text(CALENDAR)
    check = root / "evaluators" / "check"
    check.write_text(EVALUATOR)
    check.chmod(0o755)
    return root


def load_with_pipeline(root: Path, content: str | bytes) -> Project | ConfigInvalid:
    """Write ``content`` as the one pipeline file and load the project, within the hang bound."""
    target = root / "pipelines" / "fuzzed.yaml"
    target.write_bytes(content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content)
    try:
        with no_hang():
            return load_project(root / "interlock.yaml", env={})
    except ConfigInvalid as exc:
        return exc


def assert_clean_outcome(outcome: Project | ConfigInvalid) -> None:
    """A project, or errors that each say which file and what is wrong."""
    if isinstance(outcome, Project):
        # What loaded is consistent: the cross-field checks accept each pipeline as it was read.
        for pipeline in outcome.pipelines.values():
            assert check_pipeline(pipeline.to_json(), outcome) == [], pipeline
        return
    assert outcome.errors, "ConfigInvalid without a single error"
    for error in outcome.errors:
        assert error.file.endswith(".yaml"), error
        assert error.message.strip(), error
        assert str(error).startswith(error.file), error


def test_the_valid_pipeline_loads(project_dir: Path) -> None:
    outcome = load_with_pipeline(project_dir, dump(VALID))
    assert isinstance(outcome, Project), outcome
    assert list(outcome.pipelines) == ["orders"]


@pytest.fixture(scope="module")
def loaded(project_dir: Path) -> Project:
    outcome = load_with_pipeline(project_dir, dump(VALID))
    assert isinstance(outcome, Project), outcome
    return outcome


# -- arbitrary text and bytes -----------------------------------------------------------------

YAMLISH_ALPHABET = st.sampled_from([*"abc:-[]{}#&*!|>'\"%@`,?~ \n\t0123456789.", "<<", "---", "\\", "\u00e9", "\ud800",
                                    "\x00", "\ufeff"])


@FUZZ
@given(text=st.one_of(st.text(), st.lists(YAMLISH_ALPHABET, max_size=80).map("".join)))
def test_parsing_any_text_gives_a_document_or_a_yaml_error(text: str) -> None:
    try:
        with no_hang():
            parse(text)
    except YamlError as exc:
        assert exc.message.startswith(("invalid YAML", "the file", "duplicate key", "mapping keys",
                                       "'<<'", "unsupported", "YAML nesting")) or " is not " in exc.message, exc.message
        assert exc.line is None or exc.line >= 1


def _read_back(nodes: list[Any] | None) -> Any:
    """What each composed document builds to (its data and key lines), or the error building it gives."""
    if nodes is None:
        return None
    documents = []
    for node in nodes:
        doc = Document(data=None)
        try:
            doc.data = _Builder(doc).build(node, ()) if node is not None else None
            documents.append((repr(doc.data), doc.lines))
        except YamlError as exc:
            documents.append((exc.message, exc.line))
    return documents


@FUZZ
@given(text=st.one_of(st.text(), st.lists(YAMLISH_ALPHABET, max_size=80).map("".join)))
def test_libyaml_reads_what_pyyaml_reads_and_nothing_more(text: str) -> None:
    # parse() takes libyaml's nodes when it composes the text and PyYAML's (and its error) otherwise:
    # the fast path must never accept a text the pure-Python parser refuses, nor read it differently.
    with no_hang():
        fast = yamlio._compose_fast(text)
        try:
            slow: list[Any] | None = yamlio._compose(text)
        except YamlError:
            slow = None
    if fast is not None:
        assert slow is not None, "libyaml composed a text PyYAML refuses"
        assert _read_back(fast) == _read_back(slow)


def test_every_yaml_file_of_the_repository_reads_the_same_with_both_parsers() -> None:
    root = Path(__file__).resolve().parents[2]
    files = [f for top in ("interlock", "examples", "deploy", "tests") if (root / top).is_dir()
             for f in (root / top).rglob("*.y*ml")]
    assert len(files) > 30
    fast_read = 0
    for file in files:
        text = file.read_text(errors="replace")
        fast = yamlio._compose_fast(text)
        if fast is None:
            continue
        fast_read += 1
        assert _read_back(fast) == _read_back(yamlio._compose(text)), file
    assert fast_read > len(files) // 2  # the examples are what users write: libyaml reads them


def test_the_fast_parser_is_libyaml_where_pyyaml_has_it() -> None:
    import yaml

    assert yaml.__with_libyaml__, "PyYAML was built without libyaml: opening a large project is 15x slower"
    assert yamlio._FastLoader is not None
    assert yamlio._compose_fast("a: [1, 2]\n") is not None
    assert yamlio._compose_fast("a: [1, 2\n") is None  # refused: parse() asks PyYAML for the error
    with pytest.raises(YamlError, match="never closed") as caught:
        parse("name: x\nlist: [1, 2\n")
    assert caught.value.line == 2


@FUZZ
@given(content=st.one_of(st.binary(max_size=400), st.text(max_size=400),
                         st.lists(YAMLISH_ALPHABET, max_size=120).map("".join)))
def test_any_bytes_as_a_pipeline_file_load_or_fail_with_config_errors(project_dir: Path, content: str | bytes) -> None:
    assert_clean_outcome(load_with_pipeline(project_dir, content))


def test_hostile_yaml_shapes_are_refused_cleanly(project_dir: Path) -> None:
    laughs = "a: &a ['x','x','x','x','x','x','x','x','x','x']\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
        for i in range(8))
    cases: dict[str, str | bytes] = {
        "billion laughs": laughs,
        "deep flow nesting": "[" * 5000 + "]" * 5000,
        "deep block nesting": "".join("  " * i + f"k{i}:\n" for i in range(2000)),
        "python tag": "!!python/object/apply:os.system ['touch /tmp/interlock-fuzz-pwned']\n",
        "two documents": "name: a\n---\nname: b\n",
        "huge file": "# " + "x" * 1_100_000 + "\n",
        "not utf-8": b"name: \xff\xfe\n",
        "a list at the top": "- name: orders\n",
    }
    for what, content in cases.items():
        outcome = load_with_pipeline(project_dir, content)
        assert isinstance(outcome, ConfigInvalid), what
        assert_clean_outcome(outcome)
    assert not Path("/tmp/interlock-fuzz-pwned").exists()


# -- arbitrary structures ---------------------------------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["09:05", "+30m", "1h30m", "UTC", "Mars/Olympus",
                                                            "holidays:US", "holidays:XX", "http://169.254.169.254/",
                                                            "${INTERLOCK_X}", "", "0", "-1", "24:00"]))
KEYS = st.one_of(st.sampled_from(sorted({*VALID, "type", "http", "command", "url", "after", "deadline",
                                         "timezone", "name", "evaluator", "config", "days", "dates"})),
                 st.text(max_size=12))
STRUCTURES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(KEYS, inner, max_size=5)), max_leaves=25)


@FUZZ
@given(data=st.dictionaries(KEYS, STRUCTURES, max_size=8))
def test_any_structure_as_a_pipeline_loads_or_fails_with_config_errors(project_dir: Path, data: dict[str, Any]) -> None:
    assert_clean_outcome(load_with_pipeline(project_dir, dump(data)))


# -- mutations of the valid pipeline ----------------------------------------------------------

def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths_of(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths_of(inner, (*prefix, index))
    return found


PATHS = paths_of(VALID)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[Any, ...], str]:
    data = copy.deepcopy(VALID)
    path = draw(st.sampled_from(PATHS))
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    action = draw(st.sampled_from(["replace", "delete", "add-unknown-key"]))
    if action == "replace":
        parent[path[-1]] = draw(STRUCTURES)
    elif action == "delete":
        del parent[path[-1]]
    else:
        target = parent[path[-1]]
        if not isinstance(target, dict):
            action = "replace"
            parent[path[-1]] = draw(STRUCTURES)
        else:
            target[draw(st.text(min_size=1, max_size=12))] = draw(SCALARS)
    return data, path, action


@FUZZ
@given(case=mutated())
def test_a_mutated_valid_pipeline_loads_or_names_the_field(project_dir: Path,
                                                           case: tuple[dict[str, Any], tuple[Any, ...], str]) -> None:
    data, path, action = case
    outcome = load_with_pipeline(project_dir, dump(data))
    assert_clean_outcome(outcome)
    if isinstance(outcome, ConfigInvalid):
        # The file is still a mapping: every complaint about it points at a field, not at the file.
        for error in outcome.errors:
            assert error.file.endswith("fuzzed.yaml"), error
            assert error.path, f"{action} at {path}: error without a field path: {error}"
            assert error.line is not None and error.line >= 1, error


@FUZZ
@given(data=st.dictionaries(KEYS, STRUCTURES, max_size=8))
def test_check_pipeline_on_any_mapping_returns_problems_never_raises(loaded: Project, data: dict[str, Any]) -> None:
    # The API registers pipelines through check_pipeline with JSON it did not write.
    with no_hang():
        problems = check_pipeline(data, loaded)
    for field_path, message in problems:
        assert field_path and message
