"""Why did (or didn't) a pipeline run in a period? One answer for the CLI, the API and the status page.

:func:`explain` gathers what the store (or, past its retention, the Postgres archive) recorded about
one (pipeline, schedule, period): the events tagged with the period or naming one of its runs, the
period's run log with its attempts, and the alerts tagged with the period. It lays them out as a
timeline and answers the question in one sentence (:attr:`Explanation.summary`), e.g.

    not triggered: `source-freshness` FAILed 14 times from 06:00 to 09:00, last value 18120
        (lag 5h02m > 1h); evaluation deadline breached at 09:00
    triggered at 06:12 (run orders-daily-2026-03-02-1), COMPLETED at 06:40

Every event kind is shown, including kinds this module does not know by name (its kind, status
and message), so new kinds appear without a change here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from interlock.errors import BadInput, UnknownPeriod
from interlock.model import (
    DEFAULT_SCHEDULE,
    SUCCEEDED_RUN_STATUSES,
    Alert,
    Event,
    EventKind,
    PipelineConfig,
    RunLogEntry,
    RunStatus,
)
from interlock.periods import Period, period_at, period_for_key
from interlock.schedule import find_schedule

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from interlock.steps.deps import Deps

log = logging.getLogger(__name__)

# Events read from the store's per-pipeline stream at most (about a retention window of a busy pipeline).
MAX_EVENTS = 100_000
_PAGE = 1000


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: when, what (an event kind, ``RUN``, ``ALERT`` or ``WINDOW_OPENED``), why."""

    at: datetime
    kind: str
    text: str
    status: str | None = None
    trait: str | None = None
    run_id: str | None = None
    duration_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at": self.at.isoformat(), "kind": self.kind, "text": self.text}
        for key, value in (("status", self.status), ("trait", self.trait), ("runId", self.run_id),
                           ("durationMs", self.duration_ms)):
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class Explanation:
    pipeline: str
    schedule: str
    period: Period
    summary: str  # the one-sentence answer
    outcome: str  # triggered | running | failed | not_triggered | missed | no_records | not_open
    source: str  # store | archive | none
    entries: list[Entry] = field(default_factory=list)
    run_log: RunLogEntry | None = None
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "schedule": self.schedule, "period": self.period.key,
                "opens": self.period.opens.isoformat(), "closes": self.period.closes.isoformat(),
                "summary": self.summary, "outcome": self.outcome, "source": self.source, "dryRun": self.dry_run,
                "runLog": self.run_log.to_json() if self.run_log else None,
                "timeline": [e.to_json() for e in self.entries]}

    def lines(self) -> list[str]:
        """The text form: the answer, a header, then one line per timeline entry."""
        head = (f"{self.pipeline} · schedule {self.schedule} · period {self.period.key} "
                f"[{_hm(self.period.opens, self.period)} – {_hm(self.period.closes, self.period)}, "
                f"{self.period.zone}] · records: {self.source}")
        return [self.summary, head, *(f"  {_hm(e.at, self.period)}  {e.kind:<22} {e.text}" for e in self.entries)]


def _hm(at: datetime, period: Period) -> str:
    """HH:MM in the schedule's zone; with the date when it is not the period's opening day."""
    local = at.astimezone(period.zone)
    if local.date() != period.opens.astimezone(period.zone).date():
        return local.strftime("%m-%d %H:%M")
    return local.strftime("%H:%M")


def resolve(deps: Deps, pipeline: str, period: str | None, schedule: str | None) -> tuple[PipelineConfig, Period]:
    """The pipeline, schedule and period asked for (the current period when none); NotFound otherwise."""
    config = deps.store.get_pipeline(pipeline)  # UnknownPipeline
    sched = find_schedule(config, schedule)  # UnknownSchedule
    if period is None:
        return config, period_at(config, sched, deps.clock.now())
    try:
        return config, period_for_key(config, sched, period)
    except BadInput as exc:
        raise UnknownPeriod(exc.message) from None


def archive_engine(deps: Deps) -> Engine | None:
    """The archive's engine when one is configured (the same one the trigger step asks after a reset)."""
    from interlock.steps.prior_runs import ArchiveHistory

    for source in deps.history:
        if isinstance(source, ArchiveHistory):
            engine: Engine = source.engine
            return engine
    return None


def explain(deps: Deps, pipeline: str, period: str | None = None, schedule: str | None = None) -> Explanation:
    """The decision chain of one period of ``pipeline`` as a timeline, with a one-sentence answer."""
    config, window = resolve(deps, pipeline, period, schedule)
    sched = find_schedule(config, schedule).name
    run_log = deps.store.get_run_log(config.name, window.key, sched)
    run_ids = _run_ids(deps, config.name, sched, window.key, run_log)
    events = _belonging(_store_events(deps, config.name), sched, window, run_ids)
    alerts = [a for a in deps.store.list_alerts(config.name, 500) if _tagged(a.details, sched, window.key)]
    source = "store"
    if not events and run_log is None:
        engine = archive_engine(deps)
        if engine is not None:
            source = "archive"
            run_log, events, alerts = _from_archive(engine, config.name, sched, window.key)
    if not events and run_log is None and not alerts:
        source = "none"
    entries = _timeline(window, events, run_log, alerts, deps.clock.now())
    outcome, summary = _answer(deps, config, window, events, run_log, alerts)
    return Explanation(config.name, sched, window, summary, outcome, source, entries, run_log,
                       bool(getattr(config, "dry_run", False)))


# -- gathering ------------------------------------------------------------------------------------


def _store_events(deps: Deps, pipeline: str) -> list[Event]:
    events: list[Event] = []
    after = ""
    while len(events) < MAX_EVENTS:
        page = deps.store.read_events(pipeline, after, _PAGE)
        events.extend(r.event for r in page)
        if len(page) < _PAGE:
            break
        after = page[-1].stream_id
    return events


def _run_ids(deps: Deps, pipeline: str, schedule: str, period: str, run_log: RunLogEntry | None) -> set[str]:
    ids = {r.run_id for r in deps.store.list_runs(pipeline, 200)
           if r.period == period and (r.schedule_id or DEFAULT_SCHEDULE) == schedule}
    if run_log is not None:
        ids.add(run_log.run_id)
        ids.update(a.run_id for a in run_log.retry_history or [])
    return ids


def _tagged(details: dict[str, Any] | None, schedule: str, period: str) -> bool:
    details = details or {}
    return details.get("period") == period and details.get("scheduleId", DEFAULT_SCHEDULE) == schedule


def _belonging(events: Iterable[Event], schedule: str, window: Period, run_ids: set[str]) -> list[Event]:
    """Events of the period: tagged with it, naming one of its runs, or untagged and inside its window."""
    kept = []
    for e in events:
        details = e.details or {}
        if "period" in details:
            if _tagged(details, schedule, window.key):
                kept.append(e)
        elif e.run_id is not None:
            if e.run_id in run_ids:
                kept.append(e)
        elif window.contains(e.timestamp):  # a breaker trip, a push: whatever happened in the window
            kept.append(e)
    return kept


def _from_archive(engine: Engine, pipeline: str, schedule: str, period: str
                  ) -> tuple[RunLogEntry | None, list[Event], list[Alert]]:
    from interlock.archive import queries

    run_log = queries.run_log_of(engine, pipeline, period, schedule)
    run_ids = sorted({run_log.run_id, *(a.run_id for a in run_log.retry_history or [])}) if run_log else []
    events = [e for e in queries.period_events(engine, pipeline, period, run_ids)
              if "period" not in (e.details or {}) or _tagged(e.details, schedule, period)]
    alerts = [a for a in queries.period_alerts(engine, pipeline, period) if _tagged(a.details, schedule, period)]
    return run_log, events, alerts


# -- the timeline ---------------------------------------------------------------------------------


def _timeline(window: Period, events: list[Event], run_log: RunLogEntry | None, alerts: list[Alert],
              now: datetime) -> list[Entry]:
    entries: list[Entry] = []
    if window.opens <= now and (events or run_log or alerts):
        entries.append(Entry(window.opens, "WINDOW_OPENED", f"period {window.key} opened"))
    claims: list[Entry] = []  # before the events of the same instant: the claim comes first
    ends: list[Entry] = []
    if run_log is not None:
        attempts = list(run_log.retry_history or [])
        for a in attempts:
            claims.append(Entry(a.started_at, "RUN", f"attempt {a.attempt} claimed: run {a.run_id}", "TRIGGERING",
                                run_id=a.run_id))
            if a.completed_at is not None:
                why = f": {a.failure_message}" if a.failure_message else ""
                ends.append(Entry(a.completed_at, "RUN", f"attempt {a.attempt} {a.status.value}{why}",
                                  a.status.value, run_id=a.run_id))
        if not any(a.run_id == run_log.run_id for a in attempts):
            claims.append(Entry(run_log.started_at, "RUN", f"attempt {run_log.attempt_number} claimed: run "
                                f"{run_log.run_id}", "TRIGGERING", run_id=run_log.run_id))
            end = run_log.completed_at if run_log.completed_at is not None else None
            ends.append(Entry(end or run_log.updated_at, "RUN", f"attempt {run_log.attempt_number} "
                              f"{run_log.status.value}", run_log.status.value, run_id=run_log.run_id))
    entries.extend(claims)
    entries.extend(_event_entry(e) for e in events)
    entries.extend(ends)
    for alert in alerts:
        entries.append(Entry(alert.timestamp, "ALERT", f"{alert.level.value} {alert.alert_type or ''}: "
                             f"{alert.message}", alert.level.value, alert.trait_type))
    entries.sort(key=lambda e: e.at)  # stable: same-instant entries keep their recorded order
    return entries


def _event_entry(e: Event) -> Entry:
    details = e.details or {}
    duration = details.get("durationMs")
    if e.kind is EventKind.TRAIT_EVALUATED:
        text = f"`{e.trait_type}` {e.status}"
        if "value" in details:
            text += f", value {_short(details['value'])}"
        if e.message:
            text += f": {e.message}"
        if isinstance(duration, int | float):
            text += f" ({duration:.0f}ms)"
    elif e.kind is EventKind.READINESS_CHECKED:
        text = f"{e.status}" + (f", blocking: {', '.join(details.get('blocking') or [])}"
                                if details.get("blocking") else "")
    elif e.kind is EventKind.RETRY_SCHEDULED:
        text = e.message or "retry scheduled"
        if "retryAt" in details:
            text += f" (at {details['retryAt']})"
    else:  # every other kind, known or new, by its status and message
        parts = [e.status or "", e.message or ""]
        text = " ".join(p for p in parts if p) or e.kind.value.lower()
    if e.run_id and e.kind is not EventKind.TRAIT_EVALUATED:
        text += f" [run {e.run_id}]"
    return Entry(e.timestamp, e.kind.value, text, e.status, e.trait_type, e.run_id,
                 float(duration) if isinstance(duration, int | float) else None)


def _short(value: Any, width: int = 60) -> str:
    text = str(value)
    return text if len(text) <= width else text[:width - 1] + "…"


# -- the answer -----------------------------------------------------------------------------------


def _answer(deps: Deps, config: PipelineConfig, window: Period, events: list[Event], run_log: RunLogEntry | None,
            alerts: list[Alert]) -> tuple[str, str]:
    def hm(at: datetime) -> str:
        return _hm(at, window)

    sla = [e for e in events if e.kind is EventKind.SLA_BREACHED]
    sla_text = "; " + ", ".join(f"{_breach(e.status)} at {hm(e.timestamp)}" for e in sla) if sla else ""
    if run_log is not None:
        first = min([(run_log.started_at, run_log.run_id),
                     *((a.started_at, a.run_id) for a in run_log.retry_history or [])])
        head = f"triggered at {hm(first[0])} (run {first[1]})"
        attempts = f" after {run_log.attempt_number} attempts" if run_log.attempt_number > 1 else ""
        if run_log.status in SUCCEEDED_RUN_STATUSES:
            end = run_log.completed_at or run_log.updated_at
            return "triggered", f"{head}, {run_log.status.value} at {hm(end)}{attempts}{sla_text}"
        if run_log.status is RunStatus.FAILED:
            gave_up = next((e for e in events if e.kind is EventKind.RETRY_EXHAUSTED), None)
            why = f": {gave_up.message}" if gave_up and gave_up.message else ""
            failure = f"; last failure: {run_log.failure_message}" if run_log.failure_message else ""
            return "failed", f"{head}, FAILED{attempts}{why}{failure}{sla_text}"
        return "running", f"{head}, {run_log.status.value} since {hm(run_log.updated_at)}{sla_text}"
    evaluations = [e for e in events if e.kind is EventKind.TRAIT_EVALUATED]
    verdicts = [e for e in events if e.kind is EventKind.READINESS_CHECKED]
    if verdicts:
        last = verdicts[-1]
        blocking = list((last.details or {}).get("blocking") or [])
        if last.status == "READY":
            return "not_triggered", f"not triggered: READY at {hm(last.timestamp)} but no run was claimed{sla_text}"
        parts = [_blocked_by(trait, evaluations, hm) for trait in blocking] or [f"readiness {last.status}"]
        return "not_triggered", "not triggered: " + "; ".join(parts) + sla_text
    missed = [e for e in events if e.kind is EventKind.SCHEDULE_MISSED]
    if missed:
        return "missed", (f"not triggered: the period was missed ({missed[-1].message or 'SCHEDULE_MISSED'})"
                          f"{sla_text}")
    if events or alerts:
        return "not_triggered", f"not triggered: never evaluated{sla_text or ' (see the timeline)'}"
    return "no_records", _no_records(deps, config, window)


def _breach(category: str | None) -> str:
    """``evaluation_sla_breach`` -> ``evaluation SLA breached``; other categories in words."""
    if not category:
        return "SLA breached"
    if category.endswith("_breach"):
        return category.removesuffix("_breach").replace("_sla", " SLA").replace("_", " ") + " breached"
    return category.replace("_", " ")


def _blocked_by(trait: str, evaluations: list[Event], hm: Any) -> str:
    mine = [e for e in evaluations if e.trait_type == trait]
    if not mine:
        return f"`{trait}` was never evaluated"
    bad = [e for e in mine if e.status != "PASS"]
    last = mine[-1]
    status = last.status or "?"
    count = len([e for e in bad if e.status == status])
    times = f"{count} time{'s' if count != 1 else ''}"
    span = f" from {hm(bad[0].timestamp)} to {hm(last.timestamp)}" if count > 1 else f" at {hm(last.timestamp)}"
    details = last.details or {}
    value = f", last value {_short(details['value'], 40)}" if details.get("value") is not None else ""
    reason = f" ({_short(last.message, 80)})" if last.message else ""
    return f"`{trait}` {status}ed {times}{span}{value}{reason}"


def _no_records(deps: Deps, config: PipelineConfig, window: Period) -> str:
    now = deps.clock.now()
    if window.opens > now:
        return f"no records for {window.key}: the period has not opened yet (it opens at {window.opens.isoformat()})"
    registered = deps.store.registered_at(config.name)
    if registered is not None and window.closes <= registered:
        return (f"no records for {window.key}: the pipeline was not registered then "
                f"(registered {registered.isoformat(timespec='seconds')})")
    if archive_engine(deps) is None:
        return (f"no records for {window.key}: nothing was evaluated, claimed or alerted for it in the store "
                "(older records are only kept in the archive, and none is configured)")
    return f"no records for {window.key}: nothing was evaluated, claimed or alerted for it (store and archive)"
