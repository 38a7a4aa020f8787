"""What loads but probably does not do what its author meant: the warnings of ``interlock validate``.

Each check takes a file's raw mapping (as read from YAML) and returns ``(field path, reason)``
pairs; the loader adds the file and line. A warning never stops a project from loading (the
deployment's environment may differ from the shell that validates); ``validate --strict`` turns
them into errors.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from interlock.model import COMMAND_TRIGGER_ENV, TriggerType
from interlock.redaction import referenced_names

Problem = tuple[tuple[Any, ...], str]

# Pipeline fields the reference defines and Interlock accepts so its files load, but never reads.
IGNORED_PIPELINE_FIELDS = {
    "tier": "a label only, as in the reference",
    "cascade": "downstream pipelines are always evaluated at once when a run completes",
    "quarantine": "Interlock keeps no quarantine records",
}


def ignored_fields(data: Mapping[str, Any]) -> list[Problem]:
    """Pipeline fields that are accepted for compatibility with the reference and do nothing."""
    return [((key,), f"accepted for compatibility with the reference and ignored: {why}")
            for key, why in IGNORED_PIPELINE_FIELDS.items() if data.get(key) is not None]


def shared_key_prefix(data: Mapping[str, Any], default: str) -> list[Problem]:
    """A Redis project on the bare default prefix shares its keys with every other such project.

    Two projects on one Redis under ``interlock:`` see (and step on) each other's pipelines, runs
    and locks; ``interlock init`` writes ``interlock:NAME:`` for this reason.
    """
    if data.get("provider") != "redis":
        return []
    redis = data.get("redis")
    prefix = redis.get("keyPrefix", default) if isinstance(redis, Mapping) else default
    if prefix != default:
        return []
    path: tuple[Any, ...] = ("redis", "keyPrefix") if isinstance(redis, Mapping) and "keyPrefix" in redis \
        else ("redis",)
    return [(path, f"the key prefix is the shared default {default!r}: every project on this Redis using it "
                   "sees the others' pipelines and runs; use one of its own, e.g. 'interlock:NAME:'")]


def env_references(data: Mapping[str, Any], env: Mapping[str, str], expanded: str | None = None) -> list[Problem]:
    """``${INTERLOCK_*}`` references that will not work: unset ones, and ones that are never expanded.

    Only the block under the top-level key ``expanded`` (a pipeline's ``trigger``) expands them, at
    fire time, and fails the trigger when the variable is unset; so does the ``url`` of a
    ``builtin:sql`` trait, at evaluation time, and the ``token`` of a ``slack`` alert sink, when it
    sends. Anywhere else the text is used as written (a webhook
    URL, another evaluator's config, a Redis password).
    """
    problems: list[Problem] = []
    trigger = data.get(expanded) if expanded else None
    own = set(COMMAND_TRIGGER_ENV) if isinstance(trigger, Mapping) and trigger.get("type") == TriggerType.COMMAND \
        else set()
    evaluated = {path: "the trait is an ERROR at evaluation time" for path in _sql_urls(data)} \
        if expanded is not None else {path: "the sink fails to send" for path in _slack_tokens(data)}
    for path, text in _strings(data, ()):
        for name in dict.fromkeys(referenced_names([text])):
            if path in evaluated:
                if name not in env:
                    problems.append((path, f"${{{name}}} is not set in this environment; {evaluated[path]} "
                                           "unless it is set where the workers run"))
            elif expanded is not None and path[:1] == (expanded,):
                if name not in env and name not in own:
                    problems.append((path, f"${{{name}}} is not set in this environment; the trigger fails at "
                                           "fire time unless it is set where the workers run"))
            else:
                where = f"only the {expanded} block expands them" if expanded else "this file never expands them"
                problems.append((path, f"${{{name}}} is not expanded here ({where}); the text is used as written"))
    return problems


def _sql_urls(data: Mapping[str, Any]) -> set[tuple[Any, ...]]:
    """Paths of the ``url`` of every ``builtin:sql`` trait of a pipeline (expanded when evaluated)."""
    traits = data.get("traits")
    return {("traits", name, "config", "url") for name, trait in (traits.items() if isinstance(traits, Mapping) else [])
            if isinstance(trait, Mapping) and str(trait.get("evaluator") or "").strip() == "builtin:sql"}


def _slack_tokens(data: Mapping[str, Any]) -> set[tuple[Any, ...]]:
    """Paths of the ``token`` of every ``slack`` alert sink (read from the environment when sending)."""
    alerts = data.get("alerts")
    return {("alerts", i, "token") for i, sink in enumerate(alerts if isinstance(alerts, list) else [])
            if isinstance(sink, Mapping) and sink.get("type") == "slack"}


def _strings(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))
