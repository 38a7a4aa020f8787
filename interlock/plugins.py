"""Evaluator and trigger types from installed packages, found through entry points.

A package declares them in its ``pyproject.toml``::

    [project.entry-points."interlock.evaluators"]
    weekday = "interlock_example_plugin:WeekdayEvaluator"

    [project.entry-points."interlock.triggers"]
    touch-file = "interlock_example_plugin:TouchFileTrigger"

and a pipeline uses them as ``evaluator: plugin:weekday`` and ``trigger: {type: plugin, plugin:
{name: touch-file, config: {...}}}``. The object an entry point names is a class (made with no
arguments) or an instance implementing the protocol the builtins implement:
:class:`interlock.evaluators.base.Evaluator` (``evaluate(request, timeout) -> EvaluatorOutput``) or
:class:`interlock.triggers.base.Trigger` (``start(config, ctx)``, ``status(config, metadata)``). It
may also have ``check_config(config) -> list[str]``: the problems of a config, reported by
``interlock validate`` like any other validation error.

Plugins are loaded when a project names them (at load, so a broken one is a validation error, not a
3 a.m. surprise) and once per process; an unknown name is refused naming the installed ones.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

EVALUATORS = "interlock.evaluators"
TRIGGERS = "interlock.triggers"
PLUGIN_PREFIX = "plugin:"
# What each group's objects must have, callable.
_PROTOCOL = {EVALUATORS: ("evaluate",), TRIGGERS: ("start", "status")}
_WHAT = {EVALUATORS: "evaluator", TRIGGERS: "trigger"}


class PluginError(ValueError):
    """A plugin that is not installed, cannot be imported, or does not implement its protocol."""


@dataclass(frozen=True)
class _Loaded:
    obj: Any


_cache: dict[tuple[str, str], _Loaded] = {}
_lock = threading.Lock()


def installed(group: str) -> dict[str, EntryPoint]:
    """The entry points of ``group`` installed in this environment, by name."""
    return {ep.name: ep for ep in entry_points(group=group)}


def load(group: str, name: str) -> Any:
    """The plugin ``name`` of ``group``, loaded and checked once per process; raises :class:`PluginError`."""
    key = (group, name)
    found = _cache.get(key)
    if found is not None:
        return found.obj
    with _lock:
        found = _cache.get(key)
        if found is None:
            found = _Loaded(_load(group, name))
            _cache[key] = found
    return found.obj


def _load(group: str, name: str) -> Any:
    what = _WHAT[group]
    points = installed(group)
    point = points.get(name)
    if point is None:
        names = ", ".join(sorted(points)) or "none"
        raise PluginError(f"unknown plugin {what} {name!r}; installed {what} plugins (entry point group "
                          f"{group}): {names}")
    try:
        target = point.load()
    except Exception as exc:  # any import-time failure of someone else's package
        raise PluginError(f"plugin {what} {name!r} ({point.value}) cannot be loaded: "
                          f"{type(exc).__name__}: {exc}") from None
    try:
        obj = target() if isinstance(target, type) else target
    except Exception as exc:
        raise PluginError(f"plugin {what} {name!r} ({point.value}) cannot be created without arguments: "
                          f"{type(exc).__name__}: {exc}") from None
    missing = [m for m in _PROTOCOL[group] if not callable(getattr(obj, m, None))]
    if missing:
        raise PluginError(f"plugin {what} {name!r} ({point.value}) does not implement the {what} protocol: "
                          f"no {', '.join(missing)} method")
    return obj


def config_problems(group: str, name: str, config: dict[str, Any]) -> list[str]:
    """What the plugin's own ``check_config`` says about ``config`` (none when it has no such method)."""
    obj = load(group, name)
    check = getattr(obj, "check_config", None)
    if not callable(check):
        return []
    try:
        answer = check(config)
    except Exception as exc:
        return [f"plugin {name!r} raised while checking its config: {type(exc).__name__}: {exc}"]
    if answer is None:
        return []
    if isinstance(answer, str):
        return [answer]
    return [str(problem) for problem in answer]


def forget() -> None:
    """Forget loaded plugins (tests that install or remove one in this process)."""
    with _lock:
        _cache.clear()
