"""The store epoch: notice that the store was wiped or swapped, say so once, and heal it.

Every process remembers the epoch it saw when it started (:func:`verify` on first use writes one
if the store has none: its first start). Every reconcile pass checks it again with one read; every
trigger claim checks it inside the claim itself (``Store.claim(..., epoch=)``: a claim in another
epoch claims nothing, and the trigger step then calls :func:`verify`). When the store's epoch is
missing, or is another one that no heal since this process's start put there, the store was reset:
Redis restarted empty, FLUSHALL, a failover to a replica that had nothing, a different table.
Everything it held is gone: registrations, due entries (so pipelines were never looked at again),
claims and run logs (so a period could run twice).

The heal, done by one process under a lock and a compare-and-set of the epoch:

1. write a new epoch with ``resetAt`` (every other process adopts it instead of healing again);
2. register the project's pipelines and give each (pipeline, schedule) its due entries again;
3. record a ``STORE_RESET`` event per pipeline and fire one ``store_reset`` alert.

For the store's retention after a reset, the trigger step asks :mod:`interlock.steps.prior_runs`
whether a period already ran before claiming it.

A store that is found without an epoch by a process that never saw one is a first start, unless
it is empty while the archive holds history of it: then every process restarted after a wipe,
and it is healed as a reset too.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from interlock.model import Alert, AlertLevel, Event, EventKind
from interlock.store.base import Epoch

if TYPE_CHECKING:
    from interlock.steps.deps import Deps

log = logging.getLogger(__name__)

# One heal at a time; long enough to register a large project (1 000 pipelines take about 1 s).
HEAL_LOCK = "epoch-heal"
HEAL_LOCK_TTL = 300.0  # seconds
# store_reset events written per store batch while healing (one MULTI/EXEC on Redis).
RESET_EVENTS_PER_BATCH = 500


@dataclass(frozen=True)
class Seen:
    """The epoch a process works with, and since when (a heal after that replaced it legitimately)."""

    id: str
    since: datetime
    # When a heal wrote this epoch (its ``resetAt``); None for an epoch written at a first start.
    reset_at: datetime | None = None


def healed_within(seen: Seen, now: datetime, window: timedelta) -> bool:
    """Whether the epoch ``seen`` was written by a heal less than ``window`` ago (periods before it may have run)."""
    return seen.reset_at is not None and now - seen.reset_at < window


@dataclass(frozen=True)
class Check:
    """What :func:`verify` found: the store's epoch now (None while another process heals it)."""

    epoch: Epoch | None
    reset: bool  # this check found the store reset (healed here, or being healed elsewhere)

    def reset_within(self, now: datetime, window: timedelta) -> bool:
        """Whether the store was reset (found now, or healed less than ``window`` ago)."""
        if self.reset:
            return True
        return self.epoch is not None and self.epoch.reset_at is not None and now - self.epoch.reset_at < window


def verify(deps: Deps) -> Check:
    """Check that the store is the one this process saw (one read); heal it when it is not."""
    current = deps.store.get_epoch()
    seen = deps.seen_epoch
    if seen is None:
        return _first_look(deps, current)
    if current is not None and current.id == seen.id:
        return Check(current, False)
    if current is not None and current.reset_at is not None and current.reset_at >= seen.since:
        # Another process found the reset after this one last knew the store, and healed it.
        deps.seen_epoch = Seen(current.id, deps.clock.now(), current.reset_at)
        return Check(current, True)
    return _heal(deps, seen.id, current, seen.since)


def _first_look(deps: Deps, current: Epoch | None) -> Check:
    now = deps.clock.now()
    if current is not None:
        deps.seen_epoch = Seen(current.id, now, current.reset_at)
        return Check(current, False)
    if _wiped_while_everyone_was_down(deps):
        return _heal(deps, "", None, now)
    new = Epoch(uuid.uuid4().hex, now)
    if not deps.store.swap_epoch(None, new):  # another process started at the same moment
        return verify(deps) if deps.store.get_epoch() is not None else Check(None, False)
    log.info("store epoch %s written (first start of this store)", new.id)
    deps.seen_epoch = Seen(new.id, now)
    return Check(new, False)


def _wiped_while_everyone_was_down(deps: Deps) -> bool:
    """No epoch, nothing registered, yet the archive holds this store's changes: it lost everything.

    (A store upgraded from a version without epochs has pipelines registered: a first start.)
    """
    from interlock.archive.queries import change_stream_name
    from interlock.steps.prior_runs import ArchiveHistory

    archives = [source for source in deps.history if isinstance(source, ArchiveHistory)]
    if not archives or deps.store.list_pipelines():
        return False
    try:
        return any(a.has_history(change_stream_name(deps.project.settings.key_prefix)) for a in archives)
    except Exception as exc:
        log.warning("store has no epoch and the archive cannot be asked whether it had a history (%s): "
                    "taking it for a first start", exc)
        return False


def _heal(deps: Deps, lost: str, found: Epoch | None, since: datetime) -> Check:
    lock = deps.store.acquire_lock(HEAL_LOCK, HEAL_LOCK_TTL)
    if lock is None:
        return Check(found, True)  # another process is healing it right now
    try:
        current = deps.store.get_epoch()
        if (current.id if current else None) != (found.id if found else None):  # changed while we waited
            if current is not None and current.reset_at is not None and current.reset_at >= since:
                deps.seen_epoch = Seen(current.id, deps.clock.now(), current.reset_at)
                return Check(current, True)
            found = current
        now = deps.clock.now()
        new = Epoch(uuid.uuid4().hex, now, reset_at=now, previous=lost)
        if not deps.store.swap_epoch(found.id if found else None, new):
            return Check(deps.store.get_epoch(), True)
        deps.seen_epoch = Seen(new.id, now, now)
        _repair(deps, new, lost, found)
        return Check(new, True)
    finally:
        deps.store.release_lock(lock)


def _repair(deps: Deps, new: Epoch, lost: str, found: Epoch | None) -> None:
    """Register the project's pipelines, re-arm their due entries, record the reset and alert once."""
    from interlock.steps.deps import register_project_pipelines
    from interlock.steps.reconcile import ensure_scheduled

    registered = register_project_pipelines(deps.project, deps.store)
    armed = ensure_scheduled(deps)
    if found is not None:
        what = (f"its epoch {lost} is gone and it holds epoch {found.id} (written {found.created_at:%Y-%m-%d %H:%M:%S} "
                "UTC): it was emptied (a restart without persistence, FLUSHALL, a failover) and a process that "
                "started since took it for new, or it was swapped for another store")
    elif lost:
        what = f"its epoch {lost} is gone: it was emptied (a restart without persistence, FLUSHALL, a failover)"
    else:
        what = ("it was found empty while the archive holds its history: it was emptied while every process "
                "was down")
    if deps.history:
        ran_before = ("before a period is triggered again, the archive is asked whether it already ran (a run "
                      "the archiver had not copied yet may still run again)")
    else:
        ran_before = ("periods that ran before the reset may run again: configure the archive (archiver.enabled "
                      "and archiver.dsn or INTERLOCK_DATABASE_URL) so Interlock can tell")
    message = (f"The state store was reset: {what}. Runs, run logs, claims and due times it held are lost. "
               f"Interlock re-registered {registered} pipelines and re-armed {armed} due entries; {ran_before}. "
               "Next: give Redis persistence (appendonly yes, see README 'Reliability') and find out why it "
               "lost its data.")
    log.error("%s", message)
    names = sorted(deps.project.pipelines)
    for start in range(0, len(names), RESET_EVENTS_PER_BATCH):
        with deps.store.batch():  # a round trip per batch, not per pipeline
            for name in names[start:start + RESET_EVENTS_PER_BATCH]:
                deps.store.append_event(Event(
                    kind=EventKind.STORE_RESET, pipeline_id=name, timestamp=new.created_at,
                    message="store reset detected: pipeline re-registered, due entries re-armed",
                    details={"epoch": new.id, "lostEpoch": lost or None, "foundEpoch": found.id if found else None}))
    deps.alerts.fire(Alert(level=AlertLevel.ERROR, alert_type="store_reset", timestamp=new.created_at,
                           message=message,
                           details={"epoch": new.id, "lostEpoch": lost or None,
                                    "foundEpoch": found.id if found else None, "pipelines": registered,
                                    "dueEntries": armed, "archive": bool(deps.history)}),
                     dedup_key=f"store_reset:{new.id}")
