"""A corpus of broken configuration files: ``interlock validate`` must reject every one of them.

Each file in ``broken/`` is one mistake a data engineer can make. It starts with a header::

    # slot: pipelines          (pipelines, archetypes, calendars or interlock.yaml)
    # path: trigger.airflow.dag_id
    # message: field required  (a fragment the error's message must contain)
    # line: 9                  (optional: the line the error must point at)

``path`` is empty for whole-file errors (bad YAML, empty file, ...). The file is dropped into a
fresh starter project (``pipelines/<case>.yaml``, ``archetypes/<case>.yaml``,
``calendars/<case>.yaml``, or replacing ``interlock.yaml``) and the real CLI must exit 2 and name
that file, that exact field path, the reason and (when given) the line. Validating must not change
a single byte of the project.

To add a case, write a new file; run ``interlock validate --json`` on it first and copy the path,
a message fragment and the line from what it prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from interlock.cli import cli
from interlock.scaffold import init_project

BROKEN = Path(__file__).parent / "broken"
SLOTS = {
    "pipelines": "pipelines/{}.yaml",
    "archetypes": "archetypes/{}.yaml",
    "calendars": "calendars/{}.yaml",
    "interlock.yaml": "interlock.yaml",
}
HEADER_KEYS = ("slot", "path", "message", "line")
REQUIRED_KEYS = ("slot", "path", "message")
EXIT_BAD_INPUT = 2
# Cases also run without --json, to check the human form "FILE:LINE: PATH: MESSAGE" on stderr.
HUMAN_FORM_CASES = ("airflow-missing-dag-id", "archetype-threshold-too-large", "config-bad-duration")


@dataclass(frozen=True)
class Case:
    name: str
    source: Path
    slot: str
    path: str
    message: str
    line: int | None

    @property
    def target(self) -> str:
        """Where the file goes in the project, as the validator names it (relative to the CWD)."""
        return SLOTS[self.slot].format(self.name)


def read_case(source: Path) -> Case:
    """Parse a corpus file's header; a malformed header fails loudly rather than testing nothing."""
    header: dict[str, str] = {}
    for text in source.read_text(encoding="utf-8").splitlines():
        if not text.startswith("#"):
            break
        key, sep, value = text[1:].partition(":")
        key = key.strip()
        if not sep or key not in HEADER_KEYS:
            raise ValueError(f"{source.name}: bad header line {text!r} (keys: {', '.join(HEADER_KEYS)})")
        if key in header:
            raise ValueError(f"{source.name}: header key {key!r} given twice")
        header[key] = value.strip()
    missing = [k for k in REQUIRED_KEYS if k not in header]
    if missing:
        raise ValueError(f"{source.name}: header lacks {', '.join(missing)}")
    if header["slot"] not in SLOTS:
        raise ValueError(f"{source.name}: unknown slot {header['slot']!r} (one of {', '.join(SLOTS)})")
    if not header["message"]:
        raise ValueError(f"{source.name}: empty message fragment")
    line = header.get("line")
    return Case(
        name=source.stem,
        source=source,
        slot=header["slot"],
        path=header["path"],
        message=header["message"],
        line=int(line) if line else None,
    )


CASES = [read_case(f) for f in sorted(BROKEN.glob("*.yaml"))]
CASES_BY_NAME = {c.name: c for c in CASES}


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every directory (None) and file (its bytes) under ``root``."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh valid starter project, with the CWD inside it and no environment overrides."""
    for var in ("INTERLOCK_CONFIG", "INTERLOCK_REDIS_URL", "INTERLOCK_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "p"
    init_project(root)
    monkeypatch.chdir(root)
    return root


def install(case: Case, root: Path) -> None:
    (root / case.target).write_bytes(case.source.read_bytes())


def validate(root: Path, *, as_json: bool) -> Result:
    args = ["--config", str(root / "interlock.yaml"), "validate"] + (["--json"] if as_json else [])
    return CliRunner().invoke(cli, args)


def describe(errors: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {e['file']}:{e['line']}: [{e['path']}] {e['message']}" for e in errors) or "  (none)"


# -- the corpus itself ----------------------------------------------------------------------------


def test_corpus_is_large_enough_and_covers_every_slot() -> None:
    assert len(CASES) >= 34
    assert {c.slot for c in CASES} == set(SLOTS)
    assert set(HUMAN_FORM_CASES) <= set(CASES_BY_NAME)


def test_corpus_files_do_not_replace_scaffold_files(tmp_path: Path) -> None:
    """A pipeline case named like the example would overwrite it instead of adding a file."""
    init_project(tmp_path)
    clashes = [c.target for c in CASES if c.slot != "interlock.yaml" and (tmp_path / c.target).exists()]
    assert not clashes


def test_starter_project_is_valid(project: Path) -> None:
    """The control: without a corpus file the project validates, so each failure is the case's."""
    result = validate(project, as_json=True)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["valid"] is True


# -- every case is rejected with its file, field path, reason and line ----------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_validate_rejects_broken_file(case: Case, project: Path) -> None:
    install(case, project)
    before = snapshot(project)

    result = validate(project, as_json=True)

    assert result.exit_code == EXIT_BAD_INPUT, (result.exit_code, result.output, result.exception)
    report = json.loads(result.stdout)
    assert report["valid"] is False
    errors = report["errors"]
    assert errors, "exit 2 but no errors listed"
    assert all(set(e) == {"file", "line", "path", "message"} for e in errors)

    matching = [
        e for e in errors
        if e["file"] == case.target
        and e["path"] == case.path
        and case.message in e["message"]
        and (case.line is None or e["line"] == case.line)
    ]
    want = f"{case.target}:{case.line or '*'}: [{case.path}] ...{case.message}..."
    assert matching, f"expected an error like\n  {want}\ngot\n{describe(errors)}"

    assert snapshot(project) == before, "validate changed the project"


@pytest.mark.parametrize("name", HUMAN_FORM_CASES)
def test_validate_prints_file_line_and_path_on_stderr(name: str, project: Path) -> None:
    case = CASES_BY_NAME[name]
    assert case.path and case.line, "the human form is checked on cases with a field path and a line"
    install(case, project)
    before = snapshot(project)

    result = validate(project, as_json=False)

    assert result.exit_code == EXIT_BAD_INPUT, (result.exit_code, result.output, result.exception)
    prefix = f"{case.target}:{case.line}: {case.path}: "
    lines = result.stderr.splitlines()
    hits = [line for line in lines if line.startswith(prefix)]
    assert hits, f"no stderr line starts with {prefix!r}; stderr was:\n{result.stderr}"
    assert any(case.message in line for line in hits), hits
    assert snapshot(project) == before, "validate changed the project"
