"""One set of push limits for every entry point: the step, the CLI and the API refuse alike.

Before (issue 15, item 6) the API capped the TTL (366 days) and the reason, the CLI capped nothing:
``interlock push --ttl 999999999999`` printed an ``OverflowError`` traceback, and ``ttl: 0``
("never expires") got round the API's cap. Now :class:`interlock.steps.push.PushRequest` is the
API's body and what the step checks every push against; a refused push stores nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from interlock.api.app import create_app
from interlock.model import EventKind
from interlock.steps.dispatch import RecordingDispatcher
from interlock.steps.push import MAX_PUSH_REASON, MAX_PUSH_TTL, MAX_PUSH_VALUE_BYTES, BadPush, push_trait
from interlock.store.base import TraitSource
from tests.steps.conftest import Harness
from tests.test_cli_project import interlock

pytestmark = pytest.mark.integration


def value_of_size(size: int) -> dict[str, Any]:
    """A value whose compact JSON is exactly ``size`` bytes."""
    return {"blob": "x" * (size - len('{"blob":""}'))}


# (field, what is pushed): each one refused, by every entry point, naming the field.
REFUSED: list[tuple[str, dict[str, Any]]] = [
    ("ttl", {"ttl": 0}),  # "never expires" is the trait's TTL to give, not the pusher's
    ("ttl", {"ttl": -1}),
    ("ttl", {"ttl": MAX_PUSH_TTL + 1}),
    ("ttl", {"ttl": 999_999_999_999}),  # was an OverflowError traceback in the CLI
    ("ttl", {"ttl": 10 ** 30}),
    ("ttl", {"ttl": True}),
    ("ttl", {"ttl": 60.0}),
    ("ttl", {"ttl": "60"}),
    ("reason", {"reason": "r" * (MAX_PUSH_REASON + 1)}),
    ("reason", {"reason": "nul \0 inside"}),
    ("reason", {"reason": "lone \udc80 surrogate"}),
    ("value", {"value": value_of_size(MAX_PUSH_VALUE_BYTES + 1)}),
    ("value", {"value": {"n": float("nan")}}),
    ("value", {"value": {"nul": "\0"}}),
    ("status", {"status": "ERROR"}),
]


def api_can_send(push: dict[str, Any]) -> bool:
    """Whether ``push`` is JSON the API reads at all (NaN, NUL and lone surrogates are refused before
    the model, by the strict body reader: tests/api)."""
    try:
        text = json.dumps(push, allow_nan=False)
    except ValueError:
        return False
    return "\\u0000" not in text and "\\udc80" not in text


API_REFUSED = [(f, p) for f, p in REFUSED if api_can_send(p)]


@pytest.fixture
def deps_of(harness: Harness) -> Harness:
    harness.archetype("a", ["marker"])
    harness.pipeline("orders", "a", {})
    return harness


def stored_nothing(harness: Harness) -> bool:
    events = [r.event.kind for r in harness.store.list_events("orders")]
    return harness.store.get_traits("orders", TraitSource.PUSH) == [] and EventKind.TRAIT_PUSHED not in events


@pytest.mark.parametrize(("field", "push"), REFUSED, ids=[f"{f}={str(p)[:40]}" for f, p in REFUSED])
def test_the_step_refuses_a_push_outside_the_limits(deps_of: Harness, field: str, push: dict[str, Any]) -> None:
    arguments = {"status": "PASS", **push}
    with pytest.raises(BadPush, match=f"^{field} "):
        push_trait(deps_of.deps(), "orders", "marker", arguments.pop("status"), **arguments)
    assert stored_nothing(deps_of)


@pytest.mark.parametrize(("field", "push"), API_REFUSED, ids=[f"{f}={str(p)[:40]}" for f, p in API_REFUSED])
def test_the_api_refuses_the_same_pushes_with_a_stable_code(deps_of: Harness, field: str,
                                                            push: dict[str, Any]) -> None:
    deps_of.extra = "server: {maxRequestBody: 4194304}\n"  # the value's own cap, not the body limit, refuses
    deps = deps_of.deps()
    deps.dispatch = RecordingDispatcher()
    client = TestClient(create_app(deps))
    response = client.post("/api/pipelines/orders/traits/marker", json={"status": "PASS", **push})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    assert [d["path"] for d in error["details"]] == [field]
    assert stored_nothing(deps_of)


def test_the_limits_themselves_are_accepted(deps_of: Harness) -> None:
    deps = deps_of.deps()
    for ttl in (1, MAX_PUSH_TTL):
        stored = push_trait(deps, "orders", "marker", "PASS", ttl=ttl, reason="r" * MAX_PUSH_REASON,
                            value=value_of_size(MAX_PUSH_VALUE_BYTES))
        assert stored.expires_at is not None
        assert (stored.expires_at - stored.evaluated_at).total_seconds() == ttl
    # Without a TTL the trait's own applies (0 in this archetype: valid until replaced).
    assert push_trait(deps, "orders", "marker", "PASS").expires_at is None


@pytest.fixture
def project(inited_project: Path) -> Path:
    return inited_project


def test_the_cli_prints_a_trait_name_that_looks_like_markup_as_it_is(project: Path) -> None:
    result = interlock("push", "example", "[/red]x", "--status", "PASS", cwd=project)
    assert result.returncode == 2 and "has no trait '[/red]x'" in result.stderr, result.stderr


@pytest.mark.parametrize(("arguments", "says"), [
    (["--ttl", "999999999999"], "ttl must be a whole number of seconds from 1 to 31622400"),
    (["--ttl", "0"], "ttl must be a whole number of seconds from 1 to 31622400"),
    (["--ttl", "-5"], "ttl must be a whole number of seconds from 1 to 31622400"),
    (["--reason", "r" * (MAX_PUSH_REASON + 1)], f"reason is {MAX_PUSH_REASON + 1} characters; at most"),
    (["--value", '{"n": NaN}'], "--value is not valid JSON: NaN is not a JSON value"),
    (["--value", '{"a": 1, "a": 2}'], "--value is not valid JSON: duplicate key 'a'"),
    (["--value", '{"a": ' + "[" * 50_000 + "]" * 50_000 + "}"], "--value is not valid JSON: not JSON: nested"),
    (["--value", '{"a": "\\u0000"}'], "--value is not valid JSON: a NUL character"),
])
def test_the_cli_refuses_them_with_exit_2_and_the_field(project: Path, arguments: list[str], says: str) -> None:
    result = interlock("push", "example", "upstream-dependency", "--status", "PASS", *arguments, cwd=project)
    assert result.returncode == 2, result.stderr
    assert says in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.stderr
    shown = interlock("push", "example", "upstream-dependency", "--status", "PASS", "--ttl", str(MAX_PUSH_TTL),
                      "--json", cwd=project) if arguments[0] == "--ttl" and arguments[1] == "0" else None
    if shown is not None:  # the cap itself goes through
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["expiresAt"]
