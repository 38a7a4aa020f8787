"""Triggers: how a pipeline's job is started and watched, one module per target."""

from __future__ import annotations

from interlock.model import FailureCategory, TriggerType
from interlock.triggers.airflow import AirflowTrigger
from interlock.triggers.aws import EmrServerlessTrigger, EmrTrigger, GlueTrigger, StepFunctionTrigger
from interlock.triggers.base import JobState, Started, Status, Trigger, TriggerContext, TriggerError
from interlock.triggers.command import CommandTrigger
from interlock.triggers.databricks import DatabricksTrigger
from interlock.triggers.http import HttpTrigger

TRIGGERS: dict[TriggerType, Trigger] = {
    TriggerType.COMMAND: CommandTrigger(),
    TriggerType.HTTP: HttpTrigger(),
    TriggerType.AIRFLOW: AirflowTrigger(),
    TriggerType.GLUE: GlueTrigger(),
    TriggerType.EMR: EmrTrigger(),
    TriggerType.EMR_SERVERLESS: EmrServerlessTrigger(),
    TriggerType.STEP_FUNCTION: StepFunctionTrigger(),
    TriggerType.DATABRICKS: DatabricksTrigger(),
}


def trigger_for(kind: TriggerType) -> Trigger:
    """The trigger for ``kind``; TriggerError(PERMANENT) for a type this version cannot start."""
    found = TRIGGERS.get(kind)
    if found is None:
        raise TriggerError(f"trigger type {kind.value!r} is not supported in this version", FailureCategory.PERMANENT)
    return found


__all__ = ["JobState", "Started", "Status", "Trigger", "TriggerContext", "TriggerError", "trigger_for"]
