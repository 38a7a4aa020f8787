"""The evaluator protocol under fuzz: whatever an evaluator prints, the answer is clean.

An evaluator's stdout is untrusted. Binary garbage, huge output, partial JSON, 100 000 levels of
``[``, wrong types, NaN/Infinity, duplicate keys, lone surrogates: each gives a PASS/FAIL that
can be stored and served as JSON, or an ERROR with a failure category and a reason — never an
exception, never a hang. The parser is fuzzed directly (many examples, fast); the real subprocess
evaluator runs a tiny script that prints a file's bytes for a handful of examples.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlock.evaluators.base import INVALID_PREFIX, EvaluationRequest, EvaluatorOutput, parse_output
from interlock.evaluators.subprocess import SubprocessEvaluator
from interlock.model import FailureCategory, TraitStatus
from tests.fuzz.conftest import no_hang

FUZZ = settings.get_profile("interlock-fuzz")

JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
STATUSES = st.one_of(st.sampled_from(["PASS", "FAIL", "ERROR", "pass", "READY", "", None]), JSON_VALUES)
CATEGORIES = st.one_of(st.sampled_from([c.value for c in FailureCategory] + ["", None, "permanent", "OOPS"]),
                       JSON_VALUES)


@st.composite
def answers(draw: st.DrawFn) -> dict[str, Any]:
    """Objects shaped like an answer, with any field missing, mistyped or odd."""
    doc: dict[str, Any] = {}
    for key, values in (("status", STATUSES), ("value", JSON_VALUES), ("reason", JSON_VALUES),
                        ("failureCategory", CATEGORIES)):
        if draw(st.booleans()):
            doc[key] = draw(values)
    return doc


def encoded(doc: Any) -> st.SearchStrategy[bytes]:
    text = json.dumps(doc)
    return st.sampled_from([text.encode(), text.encode()[: max(1, len(text) // 2)],  # whole, or cut short
                            text.replace("1", "NaN", 1).encode(), text.replace("0", "Infinity", 1).encode()])


HOSTILE = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    answers().flatmap(encoded),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"", b"\n", b"null", b"{}", b"[]", b'"PASS"', b"{" * 100_000, b"[" * 100_000,
                     b'{"status": "FAIL", "status": "PASS"}', b'{"status": "PASS", "value": {"x": NaN}}',
                     b'{"status": "PASS", "value": {"x": -Infinity}}', b'{"status": "PASS", "value": {"x": 1e999}}',
                     b'{"status": "PASS", "reason": "\\ud800"}', b'{"status": "PASS", "reason": "\\u0000"}',
                     b'{"status": "PASS", "value": {"n": ' + b"9" * 5000 + b"}}",
                     b'\xef\xbb\xbf{"status": "PASS"}', b'{"status": "PASS"} trailing', b'{"status": "PASS"}{}']),
)


def strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def assert_clean(output: EvaluatorOutput) -> None:
    """PASS/FAIL that stores and serves as strict JSON, or ERROR with a category and a reason."""
    assert isinstance(output, EvaluatorOutput) and isinstance(output.status, TraitStatus)
    if output.status is TraitStatus.ERROR:
        assert output.failure_category is not None
    record = {"status": output.status.value, "value": output.value, "reason": output.reason,
              "failureCategory": output.failure_category.value if output.failure_category else None}
    # What the store writes and the API (strict JSON, UTF-8) and Postgres (no NUL) serve back.
    text = json.dumps(record, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")
    assert not any("\x00" in s for s in strings(record))
    if output.reason and output.reason.startswith(INVALID_PREFIX):
        assert output.status is TraitStatus.ERROR and output.failure_category is FailureCategory.PERMANENT
        assert len(output.reason) < 2_000


@FUZZ
@given(raw=HOSTILE)
def test_any_stdout_parses_to_a_clean_answer(raw: bytes) -> None:
    with no_hang():
        output = parse_output(raw)
    assert_clean(output)


@FUZZ
@given(doc=answers())
def test_a_well_formed_answer_is_taken_exactly_as_printed(doc: dict[str, Any]) -> None:
    output = parse_output(json.dumps(doc))
    assert_clean(output)
    valid = (doc.get("status") in ("PASS", "FAIL", "ERROR") and isinstance(doc.get("value"), (dict, type(None)))
             and isinstance(doc.get("reason"), (str, type(None)))
             and doc.get("failureCategory") in [c.value for c in FailureCategory] + ["", None]
             and not any("\x00" in s for s in strings(doc)))
    if valid:
        assert output.status.value == doc["status"] and output.value == doc.get("value")
        assert output.reason == (doc.get("reason") or None)
    else:
        assert output.status is TraitStatus.ERROR and output.reason and output.reason.startswith(INVALID_PREFIX)


def test_ambiguous_or_unstorable_answers_are_errors_not_silent_values() -> None:
    for raw in (b'{"status": "FAIL", "status": "PASS"}', b'{"status": "PASS", "value": {"x": NaN}}',
                b'{"status": "PASS", "value": {"x": Infinity}}', b'{"status": "PASS", "value": {"x": 1e999}}',
                b'{"status": "PASS", "reason": "\\ud800"}', b'{"status": "PASS", "reason": "a\\u0000b"}',
                b'{"status": "PASS", "value": {"k": {"k": 1, "k": 2}}}'):
        output = parse_output(raw)
        assert (output.status, output.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT), raw
        assert output.reason and output.reason.startswith(INVALID_PREFIX), raw


# -- the real subprocess path -----------------------------------------------------------------

PRINTER = f"#!{sys.executable}\nimport os, sys\nsys.stdout.buffer.write(open(os.environ['FUZZ_OUTPUT'], 'rb').read())\n"


@pytest.fixture(scope="module")
def printer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("printer")
    script = root / "print-file"
    script.write_text(PRINTER)
    script.chmod(0o755)
    return script, root / "stdout.bin"


def run_printer(printer: tuple[Path, Path], raw: bytes, timeout: float = 10.0) -> EvaluatorOutput:
    script, output_file = printer
    output_file.write_bytes(raw)
    evaluator = SubprocessEvaluator(str(script), script.parent, extra_env=("FUZZ_OUTPUT",),
                                    environ={"FUZZ_OUTPUT": str(output_file), "PATH": "/usr/bin:/bin"})
    with no_hang(timeout + 5):
        return evaluator.evaluate(EvaluationRequest("orders", "freshness"), timeout)


@settings(FUZZ, max_examples=min(FUZZ.max_examples, 15))
@given(raw=HOSTILE)
def test_any_stdout_of_a_real_evaluator_process_gives_a_clean_answer(printer: tuple[Path, Path], raw: bytes) -> None:
    assert_clean(run_printer(printer, raw))


@pytest.mark.parametrize("what, raw", [
    ("binary garbage", bytes(range(256)) * 64),
    ("100 000 levels of [", b"[" * 100_000),
    ("partial JSON", b'{"status": "PA'),
    ("duplicate keys", b'{"status": "FAIL", "status": "PASS"}'),
    ("NaN", b'{"status": "PASS", "value": {"rate": NaN}}'),
    ("a wrong type", b'{"status": ["PASS"]}'),
    ("a lone surrogate", b'{"status": "PASS", "reason": "\\udfff"}'),
])
def test_a_real_evaluator_printing_nonsense_is_an_output_invalid_error(printer: tuple[Path, Path], what: str,
                                                                       raw: bytes) -> None:
    output = run_printer(printer, raw)
    assert (output.status, output.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT), what
    assert output.reason and output.reason.startswith(INVALID_PREFIX), what


def test_a_real_evaluator_printing_more_than_a_mebibyte_is_cut_off(printer: tuple[Path, Path]) -> None:
    output = run_printer(printer, b'{"status": "PASS", "value": {"x": "' + b"a" * 3_000_000 + b'"}}')
    assert (output.status, output.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert output.reason is not None and "larger than" in output.reason


def test_a_real_evaluator_that_prints_half_an_answer_and_hangs_times_out(tmp_path: Path) -> None:
    script = tmp_path / "half-then-hang"
    script.write_text('#!/bin/sh\nprintf \'{"status": "PA\'\nexec sleep 60\n')
    script.chmod(0o755)
    evaluator = SubprocessEvaluator(str(script), tmp_path, environ={"PATH": "/usr/bin:/bin"})
    with no_hang(10):
        output = evaluator.evaluate(EvaluationRequest("orders", "freshness"), 1.0)
    assert (output.status, output.failure_category) == (TraitStatus.ERROR, FailureCategory.TIMEOUT)
