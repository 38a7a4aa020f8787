"""Templating of trigger strings: run facts and ``${INTERLOCK_*}`` environment variables.

``${date}`` (the business date: a daily period, or the local date a cron period opens on),
``${hour}`` (a cron period's local hour ``HH``; for a daily schedule the schedule id without a
leading ``h``, for hourly schedules named h00..h23, else empty), ``${minute}`` (a cron period's
local minute ``MM``, else empty), ``${period}`` (the period key), ``${periodStart}`` and
``${periodEnd}`` (ISO 8601 with offset, in the schedule's zone), ``${scheduleId}``,
``${pipelineId}``, ``${runId}`` are replaced in arguments, bodies and URLs.
``${INTERLOCK_NAME}`` takes that environment variable; an unset one is an error (a silently
empty token is worse). No other variable is expanded, so a pipeline file cannot read
``$AWS_SECRET_ACCESS_KEY`` into a request. Every value expanded is remembered as a secret
(:mod:`interlock.redaction`) and redacted from errors and logs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from interlock.config.yamlio import YamlError, parse
from interlock.model import FailureCategory
from interlock.redaction import remember
from interlock.triggers.base import TriggerContext, TriggerError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def render(text: str, ctx: TriggerContext | None = None, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every variable of ours replaced by its value (others left as written)."""
    found = values(text, ctx, environ)
    return _VAR.sub(lambda match: found.get(match.group(1), match.group(0)), text)


def values(text: str, ctx: TriggerContext | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of ours that ``text`` names, with their values: what :func:`render` puts in.

    Raises TriggerError(PERMANENT) for an unset ``${INTERLOCK_*}``; remembers each such value as a
    secret. The command trigger with ``shell: true`` hands these to the shell as environment
    variables instead of pasting them into the script (see interlock.triggers.command).
    """
    env = os.environ if environ is None else environ
    facts: dict[str, str] = {}
    if ctx is not None:
        named_hour = ctx.schedule[1:] if ctx.schedule.startswith("h") and ctx.schedule[1:].isdigit() else ""
        facts = {"date": ctx.period, "period": ctx.period, "periodStart": "", "periodEnd": "", "minute": "",
                 **ctx.template, "scheduleId": ctx.schedule, "pipelineId": ctx.pipeline, "runId": ctx.run_id}
        facts["hour"] = facts.get("hour") or named_hour
    found: dict[str, str] = {}
    for name in _VAR.findall(text):
        if name in facts:
            found[name] = facts[name]
        elif name.startswith("INTERLOCK_"):
            if name not in env:
                raise TriggerError(f"environment variable {name} is not set (used in the trigger config)",
                                   FailureCategory.PERMANENT)
            remember(env[name])  # from now on redacted from errors and logs
            found[name] = env[name]
    return found


def render_map(values: Mapping[str, str] | None, ctx: TriggerContext | None) -> dict[str, str]:
    return {k: render(v, ctx) for k, v in (values or {}).items()}


def render_mapping(value: Mapping[str, Any] | str | None, ctx: TriggerContext | None, what: str) -> dict[str, Any]:
    """A trigger's templated mapping (run config, parameters) as data to send.

    A mapping written in YAML has each string in it rendered, so a value never changes its shape;
    JSON/YAML text is rendered, then parsed (TriggerError(PERMANENT) when it is not a mapping then).
    """
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            parsed = parse(render(value, ctx)).data  # YAML 1.2 core schema: 2026-03-02 stays a string
        except YamlError as exc:
            raise TriggerError(f"{what} is not JSON or YAML once rendered: {exc.message}",
                               FailureCategory.PERMANENT) from None
        if parsed is None:
            return {}
        if not isinstance(parsed, dict):
            raise TriggerError(f"{what} is not a mapping once rendered", FailureCategory.PERMANENT)
        return parsed
    return {k: _render_data(v, ctx) for k, v in value.items()}


def _render_data(value: Any, ctx: TriggerContext | None) -> Any:
    if isinstance(value, str):
        return render(value, ctx)
    if isinstance(value, Mapping):
        return {k: _render_data(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_data(v, ctx) for v in value]
    return value
