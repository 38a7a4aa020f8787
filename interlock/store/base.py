"""The storage contract: everything the lifecycle keeps, behind one protocol.

Conventions: ``get_pipeline`` and ``get_run`` raise :class:`~interlock.errors.UnknownPipeline` and
:class:`~interlock.errors.UnknownRun`; every other single-item getter returns ``None``.
Infrastructure errors propagate. A stored value that cannot be decoded is logged with its key and
skipped, never a crash of the reader. What the contract holds, and what it keeps, adds and drops
from the reference's provider interface: docs/stores.md.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from interlock import model
from interlock.store import codec

if TYPE_CHECKING:
    from interlock.store.status import PipelineStatus

log = logging.getLogger(__name__)

# Defaults for list limits (the reference's API defaults), used when a caller passes limit <= 0.
DEFAULT_RUNS_LIMIT = 10
DEFAULT_RUN_LOGS_LIMIT = 20
DEFAULT_EVENTS_LIMIT = 50
DEFAULT_RERUNS_LIMIT = 20
DEFAULT_ALL_RERUNS_LIMIT = 50
DEFAULT_ALERTS_LIMIT = 50
DEFAULT_DELIVERIES_LIMIT = 50
# Delivery attempts kept (each list, all and failed), newest first; older ones also expire with the retention TTL.
DELIVERY_INDEX_LIMIT = 1000
DEFAULT_READ_COUNT = 100


class TraitSource(StrEnum):
    """Where a trait result came from; the two are stored apart so neither overwrites the other."""

    EVALUATOR = "evaluator"
    PUSH = "push"


class ChangeKind(StrEnum):
    RUN = "run"
    RUN_LOG = "run_log"
    EVENT = "event"
    RERUN = "rerun"
    ALERT = "alert"
    UNREADABLE = "unreadable"  # a corrupt entry: skipped, but the cursor moves past it


@dataclass(frozen=True)
class EventRecord:
    """An event with its cursor (``stream_id``), usable as ``after`` for the next read."""

    stream_id: str
    event: model.Event


@dataclass(frozen=True)
class Change:
    """One entry of the change stream: a record as it was written, for the archive."""

    id: str
    kind: ChangeKind
    data: dict[str, Any]
    ref: str = ""  # for events: the per-pipeline stream id, the event's natural key
    # The feed position just past this change, where the id alone is not one (DynamoDB's sharded feed:
    # one position per shard); empty where the id is the cursor (Redis, memory).
    cursor: str = ""

    @property
    def resume_from(self) -> str:
        """The cursor to read on from (``after`` of ``read_changes``, ``upto`` of ``trim_changes``)."""
        return self.cursor or self.id


@dataclass(frozen=True)
class OutboxEntry:
    """An alert waiting for delivery: ``value`` kept at ``key`` for ``ttl`` s, ``due_key`` due at ``due_at``."""

    key: str
    value: str
    ttl: float
    due_key: str
    due_at: datetime


@dataclass(frozen=True)
class Lock:
    """A held lock. ``fence`` grows with every acquisition of the same key (a fencing token)."""

    key: str
    token: str
    fence: int


@dataclass(frozen=True)
class DueItem:
    key: str
    due_at: datetime


@dataclass(frozen=True)
class Epoch:
    """The identity of a store's contents: written at its first start, replaced when a reset is healed.

    ``reset_at`` is set on an epoch that replaced a lost one (the store was wiped or swapped), and
    ``previous`` names the lost epoch when the healer knew it ("" otherwise).
    """

    id: str
    created_at: datetime
    reset_at: datetime | None = None
    previous: str = ""


@dataclass(frozen=True)
class SensorReading:
    pipeline_id: str
    sensor_type: str
    value: dict[str, Any]
    updated_at: datetime

    def dump(self) -> str:
        """As every store keeps it: one JSON document."""
        return json.dumps({"pipelineId": self.pipeline_id, "sensorType": self.sensor_type, "value": self.value,
                           "updatedAt": self.updated_at.isoformat()})

    @classmethod
    def load(cls, where: str, raw: str | None) -> SensorReading | None:
        """The reading stored as ``raw`` at ``where``; a corrupt one is logged and read as missing."""
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
            return cls(doc["pipelineId"], doc["sensorType"], dict(doc["value"]),
                       datetime.fromisoformat(doc["updatedAt"]))
        except (ValueError, KeyError, TypeError) as exc:
            codec.log.warning("store: skipping corrupt value at %s: %s", where, exc)
            return None


class BreakerOp(StrEnum):
    ALLOW = "allow"
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True)
class BreakerPolicy:
    """Open after ``threshold`` failures within ``window`` s; probe again after ``cooldown`` s."""

    threshold: int = 5
    window: float = 60.0
    cooldown: float = 30.0


def decode_epoch(where: str, fields: dict[str, str]) -> Epoch:
    """An epoch from its stored fields; an unreadable time is logged and read as the Unix epoch.

    The id alone decides whether a store is the one a process saw, so a damaged timestamp must not
    make the epoch look missing (which would be taken for a wiped store).
    """
    def when(name: str) -> datetime | None:
        raw = fields.get(name)
        if not raw:
            return None
        try:
            at = datetime.fromisoformat(raw)
        except ValueError:
            log.warning("store: unreadable %s in %s: %r", name, where, raw)
            return datetime.fromtimestamp(0, UTC)
        return at if at.tzinfo else at.replace(tzinfo=UTC)

    return Epoch(fields["id"], when("createdAt") or datetime.fromtimestamp(0, UTC), when("resetAt"),
                 fields.get("previous", ""))


def breaker_step(state: str, fields: dict[str, float], op: BreakerOp, now: int,
                 policy: BreakerPolicy) -> tuple[bool, str, dict[str, float] | None]:
    """The breaker's transition, as ``breaker.lua`` applies it in Redis: (flag, state after, fields to write or None).

    ``fields`` holds ``failures``, ``lastFailure``, ``openedAt`` and ``probeAt`` (times in epoch ms); ``now`` is
    epoch ms. For backends that cannot run the rule inside the database (DynamoDB, memory).
    """
    cooldown = policy.cooldown * 1000
    if op is BreakerOp.ALLOW:
        if state == "CLOSED":
            return True, "CLOSED", None
        if state == "OPEN":
            if now - fields["openedAt"] >= cooldown:
                # one probe at a time: this caller gets it, the others are denied until it reports
                return True, "HALF_OPEN", {"probeAt": now}
            return False, "OPEN", None
        # HALF_OPEN: a probe is out; allow another only if that one never reported back
        if now - fields["probeAt"] >= cooldown:
            return True, "HALF_OPEN", {"probeAt": now}
        return False, "HALF_OPEN", None
    if op is BreakerOp.SUCCESS:
        return True, "CLOSED", {"failures": 0}
    if state == "OPEN":
        return False, "OPEN", None  # a call that started before the breaker opened: the cooldown keeps running
    if state == "HALF_OPEN":
        return True, "OPEN", {"openedAt": now, "lastFailure": now}
    failures = fields["failures"]
    if failures > 0 and now - fields["lastFailure"] > policy.window * 1000:
        failures = 0
    failures += 1
    if failures >= policy.threshold:
        return True, "OPEN", {"failures": failures, "lastFailure": now, "openedAt": now}
    return False, "CLOSED", {"failures": failures, "lastFailure": now}


Decoded = TypeVar("Decoded")


def first_decoded(records: Iterable[Decoded | None], limit: int) -> list[Decoded]:
    """The first ``limit`` records that decoded (None: a corrupt one, already logged, skipped)."""
    return list(islice((r for r in records if r is not None), max(0, limit)))


def sequence_after(cursor: str) -> int:
    """The number a numbered store's cursor names ("" and "0-0" = before the first)."""
    if cursor in ("", "0-0"):
        return 0
    if not cursor.isdigit():
        raise ValueError(f"not a cursor of this store: {cursor!r}")
    return int(cursor)


def fresh(evaluation: model.TraitEvaluation | None, now: datetime) -> model.TraitEvaluation | None:
    """``evaluation`` unless it has expired by ``now`` (a store that does not expire it itself)."""
    if evaluation is None or (evaluation.expires_at and evaluation.expires_at <= now):
        return None
    return evaluation


class EpochChanged(Exception):
    """A claim found the store's epoch is not the caller's: the store was wiped or swapped (steps/epoch.py)."""

    def __init__(self, expected: str, found: str | None) -> None:
        super().__init__(f"the store's epoch is {found or 'missing'}, not {expected}: nothing was claimed")
        self.expected = expected
        self.found = found


@runtime_checkable
class RegistrationLedger(Protocol):
    """A store that remembers the digest of the file each pipeline was registered from.

    Registration (interlock.steps.deps.register_project_pipelines) then writes only the pipelines
    whose file changed. ``register_pipeline_files`` stores each pipeline and its digest in one atomic
    step (two processes registering two versions cannot leave one version with the other's digest),
    in a few round trips for the whole list;
    ``register_pipeline`` and ``delete_pipeline`` forget the digest (a pipeline registered through
    the API is not the file's), and an emptied store has none.
    Every store keeps one (on DynamoDB, a ``digest`` on each pipeline's index item); a store that
    does not registers every pipeline.
    """

    def pipeline_digests(self, names: list[str] | None = None) -> dict[str, str]:
        """Name -> digest of the file it was registered from (``names``: only those)."""
        ...

    def register_pipeline_files(self, files: Sequence[tuple[model.PipelineConfig, str | None]]) -> None:
        """``register_pipeline`` for each (config, digest), recording ``digest`` as the file the config
        came from (None: forget it). A name listed twice is registered as its last listing."""
        ...


@runtime_checkable
class Store(Protocol):
    """What the lifecycle needs of a state store. Implementations: Redis, DynamoDB."""

    def ping(self) -> None: ...

    def close(self) -> None: ...

    # -- pipelines -------------------------------------------------------------------------------
    def register_pipeline(self, config: model.PipelineConfig) -> None:
        """Upsert by name and keep the upstream → downstream index in step with its traits."""

    def get_pipeline(self, name: str) -> model.PipelineConfig:
        """The pipeline's config; raises UnknownPipeline."""
        ...

    def registered_at(self, name: str) -> datetime | None:
        """When the pipeline was first registered (kept across re-registrations)."""
        ...

    def list_pipelines(self) -> list[model.PipelineConfig]: ...

    def delete_pipeline(self, name: str) -> None: ...

    def list_dependents(self, upstream: str) -> list[str]:
        """Pipelines whose traits name ``upstream`` as ``upstreamPipeline`` (sorted)."""
        ...

    # -- the operator-state index (interlock.store.status) ----------------------------------------
    def state_counts(self) -> dict[str, int]:
        """Registered pipelines per state (every state of ``STATES``, 0 included), without reading the rows."""
        ...

    def list_statuses(self, states: Collection[str] = (), after: str = "", limit: int = 100,
                      contains: str = "") -> list[PipelineStatus]:
        """Registered pipelines by name, strictly after ``after``: only ``states`` (all when empty), only names
        containing ``contains``; at most ``limit``. Walking it page by page meets every pipeline that
        existed throughout exactly once."""
        ...

    def oldest_in_state(self, state: str, limit: int, before: datetime | None = None) -> list[PipelineStatus]:
        """Pipelines in ``state``, longest in it first (at or before ``before`` only, when given)."""
        ...

    # -- traits, readiness, sensors ---------------------------------------------------------------
    def put_trait(self, evaluation: model.TraitEvaluation, ttl: int,
                  source: TraitSource = TraitSource.EVALUATOR) -> None:
        """Store the current result of one trait; ``ttl`` seconds > 0 make it expire."""

    def get_trait(
        self, pipeline: str, trait_type: str, source: TraitSource = TraitSource.EVALUATOR
    ) -> model.TraitEvaluation | None:
        """The unexpired result, or None."""
        ...

    def get_traits(self, pipeline: str, source: TraitSource = TraitSource.EVALUATOR) -> list[model.TraitEvaluation]: ...

    def put_readiness(self, result: model.ReadinessResult, ttl: int) -> None: ...

    def get_readiness(self, pipeline: str) -> model.ReadinessResult | None: ...

    def put_sensor(self, reading: SensorReading) -> None: ...

    def get_sensor(self, pipeline: str, sensor_type: str) -> SensorReading | None: ...

    # -- runs -------------------------------------------------------------------------------------
    def put_run(self, run: model.RunState) -> None:
        """Unconditional write (creation); indexes the run under its pipeline once."""

    def get_run(self, run_id: str) -> model.RunState:
        """Raises UnknownRun."""
        ...

    def list_runs(self, pipeline: str, limit: int = DEFAULT_RUNS_LIMIT) -> list[model.RunState]:
        """Newest first by creation time."""
        ...

    def cas_run(self, run_id: str, expected_version: int, new: model.RunState) -> bool:
        """Replace the run iff its stored version is ``expected_version``; ``new.version`` must be +1."""
        ...

    def claim(self, key: str, run: model.RunState, epoch: str | None = None) -> tuple[model.RunState, bool]:
        """Atomically make ``run`` the owner of ``key`` unless it has one; return (owner, won).

        ``epoch``: the store epoch the caller works with; when the store's is another (or none),
        nothing is claimed and :class:`EpochChanged` is raised (the epoch check and the claim in one step).
        """
        ...

    def confirm_claim(self, key: str, run: model.RunState) -> bool:
        """True when the claim of ``key`` that ``run`` just won would survive the loss of the server.

        Redis with ``redis.minReplicasAcked`` > 0: the claim (as written) is on the primary and that
        many replicas acknowledged it (WAIT); otherwise the claim is withdrawn (so a later trigger
        can claim again) and False is returned. Every other store: True at once (no round trip).
        """
        ...

    # -- run logs ---------------------------------------------------------------------------------
    def put_run_log(self, entry: model.RunLogEntry) -> None: ...

    def get_run_log(self, pipeline: str, date: str, schedule: str = "daily") -> model.RunLogEntry | None: ...

    def list_run_logs(self, pipeline: str, limit: int = DEFAULT_RUN_LOGS_LIMIT) -> list[model.RunLogEntry]:
        """Newest first by ``startedAt``."""
        ...

    # -- events -----------------------------------------------------------------------------------
    def append_event(self, event: model.Event) -> str:
        """Append to the pipeline's log and the global log; return the event's cursor."""
        ...

    def list_events(self, pipeline: str, limit: int = DEFAULT_EVENTS_LIMIT) -> list[EventRecord]:
        """The latest ``limit`` events, oldest first."""
        ...

    def read_events(self, pipeline: str, after: str = "", count: int = DEFAULT_READ_COUNT) -> list[EventRecord]:
        """Events strictly after cursor ``after`` ("" = from the start), oldest first."""
        ...

    def read_all_events(self, after: str = "", count: int = DEFAULT_READ_COUNT) -> list[EventRecord]:
        """The same over every pipeline."""
        ...

    # -- reruns and alerts ------------------------------------------------------------------------
    def put_rerun(self, record: model.RerunRecord) -> None: ...

    def get_rerun(self, rerun_id: str) -> model.RerunRecord | None: ...

    def list_reruns(self, pipeline: str, limit: int = DEFAULT_RERUNS_LIMIT) -> list[model.RerunRecord]: ...

    def list_all_reruns(self, limit: int = DEFAULT_ALL_RERUNS_LIMIT) -> list[model.RerunRecord]: ...

    def put_alert(self, alert: model.Alert, outbox: OutboxEntry | None = None) -> model.Alert:
        """Persist an alert (``alertId`` defaulted to its timestamp in ms); return it as stored.

        ``outbox``: also keep the entry's value and make its due key due (the alert outbox,
        interlock/alerts/outbox.py), in the same round trip where the backend allows.
        """
        ...

    def record_delivery(self, delivery: model.AlertDelivery) -> None:
        """Keep one delivery attempt (the newest ``DELIVERY_INDEX_LIMIT``, for the retention TTL)."""
        ...

    def list_deliveries(self, limit: int = DEFAULT_DELIVERIES_LIMIT, failed: bool = False) -> list[model.AlertDelivery]:
        """Delivery attempts, newest first; ``failed``: only the attempts that failed."""
        ...

    def list_alerts(self, pipeline: str, limit: int = DEFAULT_ALERTS_LIMIT) -> list[model.Alert]: ...

    def list_all_alerts(self, limit: int = DEFAULT_ALERTS_LIMIT) -> list[model.Alert]: ...

    # -- coordination -----------------------------------------------------------------------------
    def acquire_lock(self, key: str, ttl: float) -> Lock | None:
        """Take ``key`` for ``ttl`` seconds (> 0) unless held; None when held by someone else."""
        ...

    def batch(self) -> AbstractContextManager[None]:
        """Send the writes made inside the block together (Redis: one MULTI/EXEC); reads see earlier writes.

        A store without batching runs each write at once (a null context).
        """
        ...

    def release_lock(self, lock: Lock) -> bool:
        """Release iff still held by ``lock``'s token; a stale token changes nothing."""
        ...

    def extend_lock(self, lock: Lock, ttl: float) -> bool: ...

    def put_value(self, key: str, value: str, ttl: float | None = None) -> None:
        """A small named value (a marker such as the last period a schedule saw)."""

    def get_value(self, key: str) -> str | None: ...

    def get_epoch(self) -> Epoch | None:
        """The store's epoch; None when none was ever written (a first start, or a store that lost it)."""
        ...

    def swap_epoch(self, expected: str | None, new: Epoch) -> bool:
        """Write ``new`` iff the stored epoch's id is ``expected`` (None: iff there is none); True if written.

        One atomic compare-and-set, so of two processes healing the same reset exactly one wins.
        The epoch never expires.
        """
        ...

    def count(self, amounts: dict[str, float]) -> None:
        """Add to named counters (metrics), shared by every process."""

    def counts(self) -> dict[str, float]: ...

    def mark_once(self, key: str, ttl: float) -> bool:
        """True the first time ``key`` is marked (within ``ttl`` seconds), False after."""
        ...

    def set_due(self, key: str, at: datetime) -> None:
        """Schedule ``key`` for ``at`` (replacing any earlier time)."""

    def set_due_many(self, keys: list[str], at: datetime) -> None:
        """Schedule every key of ``keys`` for ``at`` in one round trip."""

    def add_due_many(self, keys: list[str], at: datetime) -> int:
        """Schedule for ``at`` each key of ``keys`` that is not scheduled (a scheduled one keeps its time);
        return how many were added. A few round trips, not one per key."""
        ...

    def clear_due(self, key: str, only_if_at: datetime | None = None) -> bool:
        """Remove ``key``; with ``only_if_at``, only if it is still scheduled at that time."""
        ...

    def due(self, now: datetime, limit: int = 1000) -> list[DueItem]:
        """Items due at or before ``now``, earliest first."""
        ...

    def due_at(self, key: str) -> datetime | None: ...

    def breaker(self, key: str, op: BreakerOp, now: datetime, policy: BreakerPolicy) -> tuple[bool, str]:
        """Apply ``op`` to the circuit breaker ``key`` atomically; return (flag, state after).

        The flag is, for ALLOW, whether the call may go ahead; for FAILURE, whether this failure
        opened the breaker (so the trip is reported once); for SUCCESS, always True.
        """
        ...

    # -- archive feed -----------------------------------------------------------------------------
    def read_changes(self, after: str = "", count: int = 500) -> list[Change]:
        """Changes strictly after cursor ``after``, oldest first (per pipeline: in commit order).

        Read on from ``changes[-1].resume_from``. A change is returned only once every change before
        it in its pipeline's order has committed: an empty answer means nothing more, never a gap.
        """
        ...

    def trim_changes(self, upto: str) -> int:
        """Forget changes up to and including ``upto`` (the archive has committed them)."""
        ...

    def change_backlog(self) -> int:
        """Changes not trimmed yet: with an archiver running, what it has still to copy."""
        ...
