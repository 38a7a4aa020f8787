"""Plugins are checked when loaded: importable, constructible without arguments, implementing the protocol."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from interlock import plugins


class NoEvaluate:
    def check(self) -> None: ...


class NeedsArguments:
    def __init__(self, url: str) -> None:
        self.url = url

    def evaluate(self, request: Any, timeout: float) -> Any: ...


class StartOnly:
    def start(self, config: Any, ctx: Any) -> Any: ...


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Entry points as a package would declare them, pointing at the classes above or at nothing."""
    points: dict[str, str] = {}

    def entry_points(group: str) -> list[EntryPoint]:
        return [EntryPoint(name, value, group) for name, value in points.items()]

    monkeypatch.setattr(plugins, "entry_points", entry_points)
    plugins.forget()
    yield points
    plugins.forget()


@pytest.mark.parametrize(("value", "group", "message"), [
    (f"{__name__}:NoEvaluate", plugins.EVALUATORS,
     "does not implement the evaluator protocol: no evaluate method"),
    (f"{__name__}:StartOnly", plugins.TRIGGERS, "does not implement the trigger protocol: no status method"),
    (f"{__name__}:NeedsArguments", plugins.EVALUATORS, "cannot be created without arguments: TypeError"),
    ("no_such_module_anywhere:Thing", plugins.EVALUATORS, "cannot be loaded: ModuleNotFoundError"),
])
def test_a_plugin_that_breaks_its_protocol_is_refused_at_load(installed: dict[str, str], value: str, group: str,
                                                               message: str) -> None:
    installed["broken"] = value
    with pytest.raises(plugins.PluginError) as caught:
        plugins.load(group, "broken")
    assert f"({value})" in str(caught.value)
    assert message in str(caught.value)


def test_unknown_name_lists_what_is_installed(installed: dict[str, str]) -> None:
    installed["b-check"] = f"{__name__}:NoEvaluate"
    installed["a-check"] = f"{__name__}:NoEvaluate"
    with pytest.raises(plugins.PluginError) as caught:
        plugins.load(plugins.EVALUATORS, "c-check")
    assert str(caught.value) == ("unknown plugin evaluator 'c-check'; installed evaluator plugins (entry point "
                                 "group interlock.evaluators): a-check, b-check")
