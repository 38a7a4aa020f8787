"""Validation of a trait's ``config`` for the evaluators Interlock reads it for.

Builtins and plugins are run by Interlock, so their config is checked at load like the rest of a
pipeline (``interlock validate`` exits 2, an API registration is refused): ``builtin:sql`` (a URL
only as ``${INTERLOCK_*}``, one read statement, known bind parameters), ``builtin:object-exists``
(a valid bucket, a path that stays in the project, counts and durations), ``rules`` on any builtin,
plugin or pushed trait (interlock.rules), and whatever a plugin's ``check_config`` says. The config
of an executable or HTTP evaluator is theirs to read and is not checked here.

Problems are (path inside the trait's config, reason) pairs; the loader adds the file, the field
path and the line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from interlock import plugins, rules
from interlock.config.errors import did_you_mean
from interlock.config.evaluator_refs import BUILTIN_PREFIX, PLUGIN_PREFIX, EvaluatorKind, classify

Problem = tuple[tuple[Any, ...], str]

# Keys the evaluate step adds to every evaluator's config; a pipeline may set them too (they pin the value).
RUNNER_KEYS = ("scheduleId", "date", "period", "periodStart")
SQL_KEYS = ("url", "query", "rules")
SQL_URL_EXAMPLE = "${INTERLOCK_WAREHOUSE_URL}"


def problems(evaluator: str | None, config: Mapping[str, Any], root: Path) -> list[Problem]:
    """What is wrong with ``config`` for ``evaluator`` (a trait's ``evaluator:`` string)."""
    kind = classify(evaluator)
    if kind not in (EvaluatorKind.BUILTIN, EvaluatorKind.PLUGIN, EvaluatorKind.PUSH):
        return []
    found: list[Problem] = []
    if config.get("rules") is not None:
        found.extend((("rules", *path), message) for path, message in rules.problems(config["rules"]))
    text = (evaluator or "").strip()
    if kind is EvaluatorKind.PLUGIN:
        # A plugin that does not load is reported on the evaluator field by the reference check.
        with contextlib.suppress(plugins.PluginError):
            found.extend(((), p) for p in plugins.config_problems(plugins.EVALUATORS, text[len(PLUGIN_PREFIX):],
                                                                   dict(config)))
    elif kind is EvaluatorKind.BUILTIN:
        name = text[len(BUILTIN_PREFIX):]
        if name == "sql":
            found.extend(sql_problems(config))
        elif name == "object-exists":
            found.extend(object_problems(config, root))
    return found


def sql_problems(config: Mapping[str, Any]) -> list[Problem]:
    from interlock.evaluators.sql import URL_REFERENCE
    from interlock.evaluators.sqlquery import QueryProblem, prepare

    found = _unknown_keys(config, SQL_KEYS)
    url = config.get("url")
    if url is None:
        found.append((("url",), f"required: the environment variable holding the database URL, e.g. {SQL_URL_EXAMPLE}"))
    elif not isinstance(url, str) or not URL_REFERENCE.match(url):
        if isinstance(url, str) and "://" in url:
            why = ("a database URL must not be written in the pipeline file (it would keep its password in "
                   f"clear): put it in an environment variable and write url: {SQL_URL_EXAMPLE}")
        else:
            why = f"must be exactly one ${{INTERLOCK_*}} variable holding the database URL, e.g. {SQL_URL_EXAMPLE}"
        found.append((("url",), why))
    query = config.get("query")
    if query is None:
        found.append((("query",), "required: one SELECT statement, e.g. select count(*) as n from sales "
                                  "where day = :date"))
    else:
        try:
            prepare(query)
        except QueryProblem as exc:
            found.append((("query",), str(exc)))
    return found


def object_problems(config: Mapping[str, Any], root: Path) -> list[Problem]:
    from interlock.evaluators import objects

    found = _unknown_keys(config, objects.CONFIG_KEYS)
    url = config.get("url")
    if url is None:
        found.append((("url",), "required: s3://bucket/key-or-prefix/, file:///path or a path in the project"))
    elif not isinstance(url, str):
        found.append((("url",), f"must be a string, got {type(url).__name__}"))
    else:
        found.extend((("url",), p) for p in _url_problems(url, root))
    for key in ("minCount", "minBytes"):
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            found.append(((key,), f"must be a whole number of at least 0, got {value!r}"))
    newer = config.get("newerThan")
    if newer is not None and newer != objects.PERIOD_START:
        try:
            objects.parse_newer_than(newer)
        except ValueError as exc:
            found.append((("newerThan",), str(exc)))
    marker = config.get("marker")
    if marker is not None and (not isinstance(marker, str) or not marker or "/" in marker
                               or any(c in marker for c in "*?[")):
        found.append((("marker",), "must be an object name such as _SUCCESS (no folders, no wildcards)"))
    region = config.get("region")
    if region is not None and (not isinstance(region, str) or not region):
        found.append((("region",), "must be an AWS region name such as eu-west-1"))
    return found


def _url_problems(url: str, root: Path) -> list[str]:
    from interlock.evaluators import objects

    try:
        location = objects.parse_location(url)
    except ValueError as exc:
        return [str(exc)]
    unknown = [name for name in objects.url_values_used(url) if name not in objects.URL_VALUES]
    if unknown:
        return [f"${{{unknown[0]}}} is not a value of the period; a url may use "
                f"{', '.join('${' + v + '}' for v in objects.URL_VALUES)}"]
    if not location.is_s3 and objects.escapes(location.path, root):
        return [f"path {location.path!r} points outside the project folder; write an absolute path "
                "(or file:// URL) for data that lives elsewhere"]
    return []


def trigger_problems(trigger: Mapping[str, Any]) -> list[Problem]:
    """A ``type: plugin`` trigger: the plugin is installed, implements the protocol, and accepts its config."""
    block = trigger.get("plugin")
    if not isinstance(block, Mapping) or not isinstance(block.get("name"), str) or not block["name"]:
        return []  # the block's own validation says what is missing
    try:
        return [((), p) for p in plugins.config_problems(plugins.TRIGGERS, block["name"],
                                                         dict(block.get("config") or {}))]
    except plugins.PluginError as exc:
        return [(("name",), str(exc))]


def _unknown_keys(config: Mapping[str, Any], known: tuple[str, ...]) -> list[Problem]:
    allowed = (*known, *RUNNER_KEYS)
    return [((key,), f"unknown key{did_you_mean(str(key), allowed)}; this evaluator reads: {', '.join(known)}")
            for key in config if key not in allowed]
