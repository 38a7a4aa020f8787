"""The advance step: move one (pipeline, schedule) forward for the current period.

Idempotent and safe to run from the fast path and the reconcile loop at once: it reads the
period's run log, decides (done / running / waiting out a backoff / gave up / evaluate), and when
READY asks for the trigger step, whose claim guarantees one run per period and attempt. Every
outcome leaves a due time for the next look, so nothing depends on a message arriving.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from interlock import retry
from interlock.errors import UnknownPipeline, UnknownRun, UnknownSchedule
from interlock.model import (
    ACTIVE_RUN_STATUSES,
    SUCCEEDED_RUN_STATUSES,
    FailureCategory,
    PipelineConfig,
    RunState,
    RunStatus,
    ScheduleConfig,
)
from interlock.periods import Period, is_excluded_period, period_at, seen_period
from interlock.schedule import find_schedule, is_included_day
from interlock.sla import window
from interlock.steps import forced
from interlock.steps.deps import Deps
from interlock.steps.dispatch import InlineDispatcher
from interlock.steps.evaluate import WAIT_GRACE, Evaluation, evaluate
from interlock.steps.keys import advance_key, again_key, check_key, pending_key, seen_key
from interlock.steps.runs import give_up
from interlock.steps.watchdog import catch_up, ensure_watched, missed_periods

# The advance lock only keeps two advances of one (pipeline, schedule) from evaluating at once;
# it is released at the end and expires by itself if a worker dies holding it (or loses Redis
# before the release). It lasts as long as an evaluation may (the evaluator timeout, then the
# step's grace) plus this margin (s), so such a crash delays the pipeline by seconds, not minutes;
# a trait with a longer timeout of its own may see a second advance evaluate beside it, which is
# harmless: the trigger's claim keeps one run per period.
LOCK_MARGIN = 10.0


def lock_ttl(deps: Deps) -> float:
    return deps.project.settings.engine_timeout.total_seconds() + WAIT_GRACE + LOCK_MARGIN


class Outcome(StrEnum):
    UNKNOWN = "unknown"
    BUSY = "busy"
    DISABLED = "disabled"
    EXCLUDED = "excluded"
    WAITING = "waiting"  # before the schedule's `after`
    DONE = "done"
    ACTIVE = "active"
    BACKOFF = "backoff"
    GAVE_UP = "gave-up"
    NOT_READY = "not-ready"
    TRIGGERED = "triggered"
    TIMED_OUT = "timed-out"  # past the validation timeout: not evaluated again this period
    FORCED = "forced"  # NOT_READY at the schedule's triggerAnyway instant: triggered anyway (steps/forced.py)


def _take_pending(deps: Deps, config: PipelineConfig, sched: ScheduleConfig, new: list[str]) -> list[str]:
    """Catch-up periods waiting for the pipeline to be READY (kept until then), now handed out oldest first."""
    key = pending_key(config.name, sched.name)
    waiting = [p for p in (deps.store.get_value(key) or "").split(",") if p]
    if waiting:  # almost always empty: no write on the fast path then
        deps.store.put_value(key, "")
    return _in_order(config, sched, set(waiting) | set(new))


def _keep_pending(deps: Deps, config: PipelineConfig, sched: ScheduleConfig, new: list[str]) -> None:
    if not new:
        return
    key = pending_key(config.name, sched.name)
    waiting = [p for p in (deps.store.get_value(key) or "").split(",") if p]
    deps.store.put_value(key, ",".join(_in_order(config, sched, set(waiting) | set(new))))


def _in_order(config: PipelineConfig, sched: ScheduleConfig, keys: set[str]) -> list[str]:
    """Period keys in time order (by when each opens, not by spelling); keys naming no period are dropped."""
    found = [p for p in (seen_period(config, sched, key) for key in keys) if p is not None]
    return [p.key for p in sorted(found, key=lambda p: p.opens)]


def _note_period(deps: Deps, config: PipelineConfig, sched: ScheduleConfig, period: Period) -> list[str]:
    """Remember the period; after a gap, apply the catch-up policy. Return past periods to run."""
    marker = seen_key(config.name, sched.name)
    stored = deps.store.get_value(marker)
    if stored == period.key:
        return []  # the usual case: one read, no parsing
    last = seen_period(config, sched, stored)
    if last is not None and last.opens >= period.opens:
        return []
    deps.store.put_value(marker, period.key)
    if last is None:
        return []  # first sight (or a schedule edited since): forward-only, nothing before now is "missed"
    missed = missed_periods(deps, config, sched, last, period)
    return catch_up(deps, config, sched.name, missed) if missed else []


@dataclass(frozen=True)
class Gate:
    """What the run log says before evaluating: an outcome that ends this look, or evaluate now."""

    outcome: Outcome | None  # None: evaluate now for ``period`` / ``attempt``
    period: str = ""
    attempt: int = 1
    catch_up: tuple[str, ...] = ()


def advance(deps: Deps, pipeline: str, schedule: str) -> Outcome:
    key = advance_key(pipeline, schedule)
    try:
        config = deps.pipeline(pipeline)
        sched = find_schedule(config, schedule)
    except (UnknownPipeline, UnknownSchedule):
        deps.store.clear_due(key)  # deleted pipeline or schedule: nothing to do any more
        return Outcome.UNKNOWN
    again = again_key(pipeline, schedule)
    lock = deps.store.acquire_lock(key, lock_ttl(deps))
    if lock is None:
        # Another advance is evaluating, perhaps from before what sent this one (a push): its verdict
        # may be stale. Ask it for one more look, then try the lock once more: either the holder
        # finds the note after releasing, or it has released already and the lock is ours.
        deps.store.put_value(again, "1", ttl=lock_ttl(deps))
        lock = deps.store.acquire_lock(key, lock_ttl(deps))
        if lock is None:
            return Outcome.BUSY
        deps.store.put_value(again, "", ttl=lock_ttl(deps))  # this look starts after the note: it answers it
    try:
        now = deps.clock.now()
        # The look's writes (events, verdict, due times) go to the store together, before any
        # message asks for the next step: one round trip instead of one per write.
        with deps.store.batch():
            decision = gate(deps, config, sched, now)
            if decision.outcome is not None:
                return decision.outcome
            evaluation = evaluate(deps, pipeline, schedule, config=config)
            periods = prepare(deps, evaluation, decision, now)
        return ask(deps, evaluation, decision, now, periods)
    finally:
        with deps.store.batch():  # the release and the check for a note: one round trip
            deps.store.release_lock(lock)
            # Checked after the release, so a note left while we held the lock is never missed.
            noted = deps.store.get_value(again)
        if noted:
            deps.store.put_value(again, "", ttl=lock_ttl(deps))
            deps.dispatch.send("advance", pipeline=pipeline, schedule=schedule)


def gate(deps: Deps, config: PipelineConfig, sched: ScheduleConfig, now: datetime) -> Gate:
    """Decide from the period's run log whether to evaluate now; leave the next due time otherwise.

    The caller holds the (pipeline, schedule) lock: the advance lock here, the execution lock in a
    Step Functions execution.
    """
    pipeline, schedule = config.name, sched.name
    key = advance_key(pipeline, schedule)
    if config.trigger is None or (config.watch and config.watch.enabled is False):
        deps.store.clear_due(key)
        return Gate(Outcome.DISABLED)
    current = period_at(config, sched, now)
    if is_excluded_period(config, sched, current, now, deps.project.calendars):
        deps.store.set_due(key, current.closes)
        return Gate(Outcome.EXCLUDED)
    if not is_included_day(sched, current.day, deps.project.calendars):
        deps.store.set_due(key, current.closes)  # a date its inclusion calendar does not list: dormant
        return Gate(Outcome.EXCLUDED)
    if now < current.opens:  # a daily period before its ``after``
        deps.store.set_due(key, current.opens)
        return Gate(Outcome.WAITING)
    period = current.key
    catch_up_runs = _note_period(deps, config, sched, current)
    entry = deps.store.get_run_log(pipeline, period, schedule)
    timeout = window(config, sched, current).validation_deadline
    if entry is None and timeout is not None and now > timeout:
        deps.store.set_due(key, current.closes)  # the SLA check alerts about it
        return Gate(Outcome.TIMED_OUT, period)
    attempt = 1
    if entry is not None:
        if entry.status in SUCCEEDED_RUN_STATUSES:
            deps.store.set_due(key, current.closes)
            return Gate(Outcome.DONE, period)
        if entry.status in ACTIVE_RUN_STATUSES:
            if entry.status is RunStatus.RUNNING and deps.store.due_at(check_key(entry.run_id)) is None:
                deps.store.set_due(check_key(entry.run_id), now)  # a lost poll: resume it
            if entry.status is RunStatus.TRIGGERING:
                ensure_watched(deps, entry.run_id, entry.updated_at)
            deps.store.set_due(key, now + deps.check_interval(config))
            return Gate(Outcome.ACTIVE, period, entry.attempt_number)
        policy = retry.policy_of(config.retry)
        category = entry.failure_category
        verdict = retry.verdict(policy, category, entry.attempt_number, entry.retry_history or [])
        if not verdict.retry:
            give_up(deps, config, schedule, period, entry.attempt_number, entry.failure_message or "failed",
                    category or FailureCategory.TRANSIENT, entry, verdict.budget)
            deps.store.set_due(key, current.closes)
            return Gate(Outcome.GAVE_UP, period, entry.attempt_number)
        retry_at = entry.updated_at + retry.backoff(policy, entry.attempt_number)
        if now < retry_at:
            deps.store.set_due(key, retry_at)
            return Gate(Outcome.BACKOFF, period, entry.attempt_number)
        attempt = entry.attempt_number + 1
    return Gate(None, period, attempt, tuple(catch_up_runs))


def settle(deps: Deps, evaluation: Evaluation, decision: Gate, now: datetime) -> Outcome:
    """After evaluating: leave the next look, and when READY ask for the trigger(s)."""
    with deps.store.batch():
        periods = prepare(deps, evaluation, decision, now)
    return ask(deps, evaluation, decision, now, periods)


def prepare(deps: Deps, evaluation: Evaluation, decision: Gate, now: datetime) -> list[str]:
    """The writes of :func:`settle`: the next look, the catch-up periods kept or taken; return those to trigger."""
    pipeline, schedule = evaluation.pipeline.name, evaluation.schedule
    sched = find_schedule(evaluation.pipeline, schedule)
    # Look again after the check interval whatever happens next: if the trigger message is
    # lost, this is how the period still gets its run.
    look = now + deps.check_interval(evaluation.pipeline)
    deps.store.set_due(advance_key(pipeline, schedule), forced.next_look(evaluation, decision.attempt, now, look))
    if not evaluation.ready:
        _keep_pending(deps, evaluation.pipeline, sched, list(decision.catch_up))  # run them once it is READY
        return []
    return _take_pending(deps, evaluation.pipeline, sched, list(decision.catch_up))


def ask(deps: Deps, evaluation: Evaluation, decision: Gate, now: datetime, missed: list[str]) -> Outcome:
    """The messages of :func:`settle`, after its writes are in the store: the trigger(s) when READY."""
    pipeline, schedule = evaluation.pipeline.name, evaluation.schedule
    if not evaluation.ready:
        if forced.trigger_anyway(deps, evaluation, decision.attempt, now):
            return Outcome.FORCED
        return Outcome.NOT_READY
    for period in missed:
        deps.dispatch.send("trigger", pipeline=pipeline, schedule=schedule, period=period, attempt=1)
    deps.dispatch.send("trigger", pipeline=pipeline, schedule=schedule, period=evaluation.period,
                       attempt=decision.attempt)
    return Outcome.TRIGGERED


class RunNow(NamedTuple):
    """What :func:`run_now` did: the schedule, the advance's outcome, and this period's run (if any)."""

    schedule: str
    outcome: Outcome
    run: RunState | None


def run_now(deps: Deps, pipeline: str, schedule: str | None = None) -> RunNow:
    """Advance (pipeline, schedule) now and start its trigger here if READY: ``interlock run``, ``POST .../run``.

    ``schedule``: default, the pipeline's first; an unknown pipeline or schedule raises before any
    work (UnknownPipeline, UnknownSchedule). The trigger runs in this process; what it asks for next
    (a cascade's advances, polls) is left to the due index. ``run`` is the run of the current period
    of this schedule (its run log's), not the pipeline's latest: another schedule may have run since.
    """
    config = deps.pipeline(pipeline)
    sched = find_schedule(config, schedule)
    inline = InlineDispatcher(deps, only={"trigger"})
    outcome = advance(inline.deps, pipeline, sched.name)
    return RunNow(sched.name, outcome, current_run(deps, config, sched))


def current_run(deps: Deps, config: PipelineConfig, sched: ScheduleConfig) -> RunState | None:
    """The run that the run log of this schedule's current period names; None if none (or it expired)."""
    entry = deps.store.get_run_log(config.name, period_at(config, sched, deps.clock.now()).key, sched.name)
    if entry is None:
        return None
    try:
        return deps.store.get_run(entry.run_id)
    except UnknownRun:  # expired since the run log named it
        return None
