"""Triggers: how a pipeline's job is started and watched, one module per target."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from interlock.model import FailureCategory, TriggerConfig, TriggerType
from interlock.redaction import install_log_filter, redact, remember_referenced
from interlock.triggers.airflow import AirflowTrigger
from interlock.triggers.aws import (
    EmrServerlessTrigger,
    EmrTrigger,
    GlueTrigger,
    LambdaTrigger,
    StepFunctionTrigger,
)
from interlock.triggers.base import (
    JobState,
    Started,
    Status,
    Trigger,
    TriggerContext,
    TriggerError,
    can_recover,
)
from interlock.triggers.command import CommandTrigger
from interlock.triggers.dagster import DagsterTrigger
from interlock.triggers.databricks import DatabricksTrigger
from interlock.triggers.dbt_cloud import DbtCloudTrigger
from interlock.triggers.http import HttpTrigger
from interlock.triggers.plugin import PluginTrigger
from interlock.triggers.prefect import PrefectTrigger

log = logging.getLogger(__name__)

TRIGGERS: dict[TriggerType, Trigger] = {
    TriggerType.COMMAND: CommandTrigger(),
    TriggerType.HTTP: HttpTrigger(),
    TriggerType.AIRFLOW: AirflowTrigger(),
    TriggerType.GLUE: GlueTrigger(),
    TriggerType.EMR: EmrTrigger(),
    TriggerType.EMR_SERVERLESS: EmrServerlessTrigger(),
    TriggerType.STEP_FUNCTION: StepFunctionTrigger(),
    TriggerType.DATABRICKS: DatabricksTrigger(),
    TriggerType.DBT_CLOUD: DbtCloudTrigger(),
    TriggerType.LAMBDA: LambdaTrigger(),
    TriggerType.DAGSTER: DagsterTrigger(),
    TriggerType.PREFECT: PrefectTrigger(),
    TriggerType.PLUGIN: PluginTrigger(),
}


class _Redacting:
    """A trigger whose errors carry no ``${INTERLOCK_*}`` value (see interlock.redaction).

    Any other exception becomes a TRANSIENT TriggerError too, its traceback logged redacted here,
    so no caller ever holds (and records or logs) the unredacted text.
    """

    def __init__(self, inner: Trigger) -> None:
        self.inner = inner

    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started:
        remember_referenced(config.to_json())
        with _redacted_errors("trigger", f"trigger {config.type.value} of {ctx.run_id}"):
            return self.inner.start(config, ctx)

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        remember_referenced(config.to_json())
        with _redacted_errors("status check", f"status check of a {config.type.value} run"):
            return self.inner.status(config, metadata)

    @property
    def recoverable(self) -> bool:
        return can_recover(self.inner)

    def find(self, config: TriggerConfig, ctx: TriggerContext) -> Started | None:
        """The inner trigger's ``find``; None when it has none (then ``start`` is idempotent)."""
        find = getattr(self.inner, "find", None)
        if find is None:
            return None
        remember_referenced(config.to_json())
        with _redacted_errors("lookup", f"lookup of {ctx.run_id}"):
            found: Started | None = find(config, ctx)
            return found


@contextmanager
def _redacted_errors(doing: str, where: str) -> Iterator[None]:
    try:
        yield
    except TriggerError as exc:
        raise TriggerError(redact(str(exc)), exc.category) from None
    except Exception as exc:
        log.error("%s raised:\n%s", where, redact(traceback.format_exc()))
        raise TriggerError(redact(f"{doing} error: {exc}"), FailureCategory.TRANSIENT) from None


def trigger_for(kind: TriggerType) -> Trigger:
    """The trigger for ``kind``; TriggerError(PERMANENT) for a type this version cannot start.

    Whatever it raises has the secrets its config references redacted.
    """
    found = TRIGGERS.get(kind)
    if found is None:
        raise TriggerError(f"trigger type {kind.value!r} is not supported in this version", FailureCategory.PERMANENT)
    return _Redacting(found)


def recovery_for(kind: TriggerType) -> _Redacting | None:
    """The trigger for ``kind`` when a start of it whose outcome is unknown can be settled by asking
    its target (interlock.triggers.base.can_recover), else None."""
    found = TRIGGERS.get(kind)
    return _Redacting(found) if found is not None and can_recover(found) else None


install_log_filter()


__all__ = ["JobState", "Started", "Status", "Trigger", "TriggerContext", "TriggerError", "recovery_for", "trigger_for"]
