"""Due-index keys: what kind of work is due, for what."""

from __future__ import annotations

from interlock.periods import RunKey


def advance_key(pipeline: str, schedule: str) -> str:
    return f"advance:{pipeline}:{schedule}"


def check_key(run_id: str) -> str:
    return f"check:{run_id}"


def monitor_key(run_id: str) -> str:
    return f"monitor:{run_id}"


def sla_key(pipeline: str, schedule: str) -> str:
    return f"sla:{pipeline}:{schedule}"


def stuck_key(run_id: str) -> str:
    return f"stuck:{run_id}"


def seen_key(pipeline: str, schedule: str) -> str:
    """Marker: the last period the advance step looked at (for missed-period detection)."""
    return f"seen:{pipeline}:{schedule}"


def pending_key(pipeline: str, schedule: str) -> str:
    """Marker: missed periods a catch-up policy wants run, waiting for the pipeline to be READY."""
    return f"pending:{pipeline}:{schedule}"


def again_key(pipeline: str, schedule: str) -> str:
    """Marker: an advance found the pipeline busy and wants one more look once the holder is done."""
    return f"again:{pipeline}:{schedule}"


def arrival_key(pipeline: str, schedule: str, period: str) -> str:
    """Value: when the period's data first arrived (its first passing trait), for ``sla.maxDuration``."""
    return f"arrived:{pipeline}:{schedule}:{period}"


def rerun_key(rerun_id: str) -> str:
    return f"rerun:{rerun_id}"


def claim_key(pipeline: str, schedule: str, period: str, attempt: int) -> str:
    """The store claim that keeps one run per (pipeline, schedule, period, attempt) (RunKey.claim_key)."""
    return RunKey(pipeline, schedule, period, attempt).claim_key


def parse(key: str) -> tuple[str, dict[str, str]] | None:
    """``advance:p:s`` -> ("advance", {"pipeline": p, "schedule": s}); None for an unknown key."""
    kind, _, rest = key.partition(":")
    if kind == "advance":
        pipeline, _, schedule = rest.rpartition(":")
        return ("advance", {"pipeline": pipeline, "schedule": schedule}) if pipeline and schedule else None
    if kind == "check" and rest:
        return "check_run", {"run_id": rest}
    if kind == "monitor" and rest:
        return "monitor", {"run_id": rest}
    if kind == "sla":
        pipeline, _, schedule = rest.rpartition(":")
        return ("check_sla", {"pipeline": pipeline, "schedule": schedule}) if pipeline and schedule else None
    if kind == "stuck" and rest:
        return "check_stuck", {"run_id": rest}
    if kind == "rerun" and rest:
        return "rerun", {"rerun_id": rest}
    if kind == "deliver" and rest:  # an outboxed alert (interlock/alerts/outbox.py deliver_key)
        return "deliver_alert", {"delivery_id": rest}
    return None
