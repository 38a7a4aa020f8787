"""A state store in this process's memory: for tests and one-process commands, **not for production**.

Everything lives in dicts behind one lock, so it is gone when the process exits and no other process
(a worker, Beat, the API) can see it. It keeps the :class:`~interlock.store.base.Store` contract the
way the DynamoDB store does: records are stored as the same JSON the other backends write (so a
record that does not survive a round trip fails here too), expiry is judged on every read by the
store's clock, archived writes take the next number of one change counter in the same critical
section as the record, and an event's cursor is that number.
"""

from __future__ import annotations

import bisect
import json
import threading
import uuid
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from interlock import model
from interlock.clock import SYSTEM, Clock
from interlock.errors import UnknownPipeline, UnknownRun
from interlock.store import base
from interlock.store.codec import M, decode, dump, log
from interlock.store.status import STATES, PipelineStatus, after_readiness, after_register, after_run_log

# Entries kept in the run-log, rerun and alert indexes (newest first), as in the Redis store.
RUN_LOG_INDEX_LIMIT = 100
RERUN_INDEX_LIMIT = 100
GLOBAL_RERUN_INDEX_LIMIT = 500
ALERT_INDEX_LIMIT = 500
# Events kept in the global log (per-pipeline logs keep ``event_stream_max``).
GLOBAL_EVENT_LOG_MAX = 100_000
# Changes kept when nothing trims the feed (the archiver trims what it has committed).
CHANGE_FEED_MAX = 1_000_000
# Non-terminal runs outlive terminal ones by this much, so a stuck run is still there to report.
ACTIVE_RUN_GRACE = timedelta(hours=24)
# How long a circuit breaker's state outlives its longest interval, in ms (as in the other stores).
BREAKER_KEEP_MS = 86_400_000

_NEVER = 2**63  # the expiry (epoch ms) of a record that does not expire


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _cursor(seq: int) -> str:
    """A cursor: the change number, zero-padded so cursors sort as text too (as DynamoDB's do)."""
    return f"{seq:020d}"



@dataclass
class _Entry:
    """A stored value (the record's JSON) and when it expires (epoch ms)."""

    raw: str
    exp: int = _NEVER


@dataclass(frozen=True)
class _Logged:
    """One event in a log: its number (the cursor), its JSON and its expiry (epoch ms)."""

    seq: int
    raw: str
    exp: int


@dataclass(frozen=True)
class _Fed:
    """One change of the archive feed."""

    seq: int
    kind: base.ChangeKind
    raw: str
    ref: str = ""


class MemoryStore:
    """:class:`~interlock.store.base.Store` in this process's memory; thread-safe, not shared, not durable.

    For tests that need a store but not Redis, and for a command that runs alone. Never for a deployment:
    workers, Beat and the API are separate processes and would each see a store of their own.

    Example::

        store = MemoryStore(clock=FrozenClock(datetime(2026, 2, 21, tzinfo=UTC)))
    """

    def __init__(
        self,
        *,
        retention: timedelta = timedelta(days=7),
        run_index_limit: int = 100,
        event_stream_max: int = 10_000,
        clock: Clock = SYSTEM,
    ) -> None:
        self.retention = retention
        self.run_index_limit = run_index_limit
        self.event_stream_max = event_stream_max
        self.clock = clock
        # One lock makes every method one atomic step, as a Lua script or a transaction is elsewhere.
        self._lock = threading.RLock()
        self._pipelines: dict[str, str] = {}
        self._registered: dict[str, str] = {}
        self._digests: dict[str, str] = {}
        self._deps: dict[str, set[str]] = {}
        self._traits: dict[tuple[base.TraitSource, str], dict[str, str]] = {}
        self._readiness: dict[str, _Entry] = {}
        self._sensors: dict[tuple[str, str], str] = {}
        self._runs: dict[str, _Entry] = {}
        self._run_index: dict[str, dict[str, tuple[int, str]]] = {}
        self._claims: dict[str, _Entry] = {}
        self._run_logs: dict[tuple[str, str, str], _Entry] = {}
        self._run_log_index: dict[str, dict[tuple[str, str], tuple[int, str, str]]] = {}
        self._events: dict[str, list[_Logged]] = {}
        self._all_events: list[_Logged] = []
        self._reruns: dict[str, _Entry] = {}
        self._rerun_index: dict[str, dict[str, tuple[int, str]]] = {}
        self._all_reruns: dict[str, tuple[int, str]] = {}
        self._alerts: dict[str, list[tuple[int, int, _Entry]]] = {}
        self._all_alerts: list[tuple[int, int, _Entry]] = []
        self._deliveries: dict[bool, list[tuple[int, int, _Entry]]] = {False: [], True: []}
        self._delivery_seq = 0
        self._locks: dict[str, tuple[str, int]] = {}
        self._fences: dict[str, int] = {}
        self._values: dict[str, _Entry] = {}
        self._metrics: dict[str, float] = {}
        self._once: dict[str, int] = {}
        self._due: dict[str, int] = {}
        self._breakers: dict[str, tuple[str, dict[str, float], int]] = {}
        self._changes: list[_Fed] = []
        self._seq = 0
        self._epoch: base.Epoch | None = None
        self._status: dict[str, PipelineStatus] = {}

    # -- plumbing ---------------------------------------------------------------------------------

    def ping(self) -> None:
        """Always answers: the store is this process."""

    def close(self) -> None:
        """Nothing to release; the data stays readable until the object is dropped."""

    def _now_ms(self) -> int:
        return _ms(self.clock.now())

    def _live(self, entry: _Entry | None) -> str | None:
        return entry.raw if entry is not None and entry.exp > self._now_ms() else None

    def _retention_ms(self) -> int:
        return int(self.retention.total_seconds() * 1000)

    def _run_exp(self, status: model.RunStatus) -> int:
        keep = self.retention if status in model.TERMINAL_RUN_STATUSES else self.retention + ACTIVE_RUN_GRACE
        return self._now_ms() + int(keep.total_seconds() * 1000)

    def _feed(self, kind: base.ChangeKind, raw: str, ref_is_seq: bool = False) -> int:
        """Take the next change number and record the change (the caller holds the lock)."""
        self._seq += 1
        self._changes.append(_Fed(self._seq, kind, raw, _cursor(self._seq) if ref_is_seq else ""))
        if len(self._changes) > CHANGE_FEED_MAX:
            del self._changes[: len(self._changes) - CHANGE_FEED_MAX]
        return self._seq

    @staticmethod
    def _newest(index: dict[str, tuple[int, str]], limit: int) -> list[str]:
        """The ids of ``index`` (id -> (score, id)), highest score first."""
        return [ident for _, ident in sorted(index.values(), reverse=True)[:limit]]

    @staticmethod
    def _trim(index: dict[Any, Any], keep: int) -> None:
        """Drop the lowest-scored entries of ``index`` beyond the newest ``keep``."""
        for stale in sorted(index, key=lambda k: index[k])[: max(0, len(index) - keep)]:
            del index[stale]

    def _records(self, names: list[str], entries: list[_Entry | None], model: type[M]) -> list[M]:
        """Decode live ``entries`` (logged by ``names``); missing, expired and corrupt ones are skipped."""
        found = []
        for name, entry in zip(names, entries, strict=True):
            record = decode(name, self._live(entry), model)
            if record is not None:
                found.append(record)
        return found

    # -- pipelines --------------------------------------------------------------------------------

    def register_pipeline(self, config: model.PipelineConfig) -> None:
        self.register_pipeline_files([(config, None)])

    def register_pipeline_files(self, files: Sequence[tuple[model.PipelineConfig, str | None]]) -> None:
        for config, digest in files:
            self._register(config, digest)

    def _register(self, config: model.PipelineConfig, digest: str | None) -> None:
        with self._lock:
            old = decode(f"pipeline:{config.name}", self._pipelines.get(config.name), model.PipelineConfig)
            before = set(old.upstreams()) if old else set()
            after = set(config.upstreams())
            # What was given, as given: defaults stay defaults when the model grows new ones.
            self._pipelines[config.name] = json.dumps(config.to_json(), separators=(",", ":"))
            self._registered.setdefault(config.name, self.clock.now().isoformat())
            if digest is None:
                self._digests.pop(config.name, None)
            else:
                self._digests[config.name] = digest
            for upstream in before - after:
                self._deps.get(upstream, set()).discard(config.name)
            for upstream in after:
                self._deps.setdefault(upstream, set()).add(config.name)
            self._set_status(after_register(self._status.get(config.name), config, self.clock.now()))

    def get_pipeline(self, name: str) -> model.PipelineConfig:
        with self._lock:
            found = decode(f"pipeline:{name}", self._pipelines.get(name), model.PipelineConfig)
        if found is None:
            raise UnknownPipeline(name)
        return found

    def registered_at(self, name: str) -> datetime | None:
        with self._lock:
            raw = self._registered.get(name)
        try:
            return datetime.fromisoformat(raw) if raw else None
        except ValueError:
            log.warning("store: skipping corrupt value at registered:%s", name)
            return None

    def list_pipelines(self) -> list[model.PipelineConfig]:
        with self._lock:
            rows = sorted(self._pipelines.items())
        return [c for c in (decode(f"pipeline:{n}", raw, model.PipelineConfig) for n, raw in rows) if c]

    def delete_pipeline(self, name: str) -> None:
        with self._lock:
            old = decode(f"pipeline:{name}", self._pipelines.pop(name, None), model.PipelineConfig)
            self._status.pop(name, None)
            self._digests.pop(name, None)
            for upstream in old.upstreams() if old else []:
                self._deps.get(upstream, set()).discard(name)

    # -- the operator-state index ----------------------------------------------------------------

    def _set_status(self, row: PipelineStatus | None) -> None:
        if row is not None:
            self._status[row.name] = row

    def state_counts(self) -> dict[str, int]:
        with self._lock:
            counts = dict.fromkeys(STATES, 0)
            for row in self._status.values():
                counts[row.state] += 1
            return counts

    def list_statuses(self, states: Collection[str] = (), after: str = "", limit: int = 100,
                      contains: str = "") -> list[PipelineStatus]:
        with self._lock:
            names = sorted(n for n in self._pipelines if n > after and contains in n)
            rows = (self._status.get(n) or PipelineStatus.unindexed(n) for n in names)
            return list(islice((r for r in rows if not states or r.state in states), max(0, limit)))

    def oldest_in_state(self, state: str, limit: int, before: datetime | None = None) -> list[PipelineStatus]:
        with self._lock:
            rows = [r for r in self._status.values() if r.state == state and r.since is not None
                    and (before is None or r.since <= before)]
        return sorted(rows, key=lambda r: (r.since or datetime.min.replace(tzinfo=UTC), r.name))[:max(0, limit)]

    def pipeline_digests(self, names: list[str] | None = None) -> dict[str, str]:
        with self._lock:
            if names is None:
                return dict(self._digests)
            return {n: self._digests[n] for n in names if n in self._digests}

    def list_dependents(self, upstream: str) -> list[str]:
        with self._lock:
            return sorted(self._deps.get(upstream, set()))

    # -- traits, readiness, sensors ---------------------------------------------------------------

    def put_trait(self, evaluation: model.TraitEvaluation, ttl: int,
                  source: base.TraitSource = base.TraitSource.EVALUATOR) -> None:
        expires = evaluation.evaluated_at + timedelta(seconds=ttl) if ttl > 0 else None
        evaluation = evaluation.model_copy(update={"expires_at": expires, "source": source.value})
        with self._lock:
            self._traits.setdefault((source, evaluation.pipeline_id), {})[evaluation.trait_type] = dump(evaluation)

    def _fresh(self, evaluation: model.TraitEvaluation | None) -> model.TraitEvaluation | None:
        return base.fresh(evaluation, self.clock.now())

    def get_trait(
        self, pipeline: str, trait_type: str, source: base.TraitSource = base.TraitSource.EVALUATOR
    ) -> model.TraitEvaluation | None:
        with self._lock:
            raw = self._traits.get((source, pipeline), {}).get(trait_type)
        return self._fresh(decode(f"{source.value}:{pipeline}[{trait_type}]", raw, model.TraitEvaluation))

    def get_traits(self, pipeline: str,
                   source: base.TraitSource = base.TraitSource.EVALUATOR) -> list[model.TraitEvaluation]:
        with self._lock:
            rows = sorted(self._traits.get((source, pipeline), {}).items())
        found = []
        for trait_type, raw in rows:
            evaluation = self._fresh(decode(f"{source.value}:{pipeline}[{trait_type}]", raw, model.TraitEvaluation))
            if evaluation:
                found.append(evaluation)
        return found

    def put_readiness(self, result: model.ReadinessResult, ttl: int) -> None:
        with self._lock:
            self._readiness[result.pipeline_id] = _Entry(dump(result), self._now_ms() + max(1, ttl) * 1000)
            if result.pipeline_id in self._pipelines:
                self._set_status(after_readiness(self._status.get(result.pipeline_id), result, self.clock.now()))

    def get_readiness(self, pipeline: str) -> model.ReadinessResult | None:
        with self._lock:
            raw = self._live(self._readiness.get(pipeline))
        return decode(f"readiness:{pipeline}", raw, model.ReadinessResult)

    def put_sensor(self, reading: base.SensorReading) -> None:
        with self._lock:
            self._sensors[(reading.pipeline_id, reading.sensor_type)] = reading.dump()

    def get_sensor(self, pipeline: str, sensor_type: str) -> base.SensorReading | None:
        with self._lock:
            raw = self._sensors.get((pipeline, sensor_type))
        return base.SensorReading.load(f"sensor:{pipeline}:{sensor_type}", raw)

    # -- runs -------------------------------------------------------------------------------------

    def _store_run(self, run: model.RunState, raw: str) -> None:
        """Write the run and list it under its pipeline (the caller holds the lock)."""
        self._runs[run.run_id] = _Entry(raw, self._run_exp(run.status))
        index = self._run_index.setdefault(run.pipeline_id, {})
        index[run.run_id] = (_ms(run.created_at), run.run_id)
        self._trim(index, self.run_index_limit)
        self._feed(base.ChangeKind.RUN, raw)

    def put_run(self, run: model.RunState) -> None:
        with self._lock:
            self._store_run(run, dump(run))

    def get_run(self, run_id: str) -> model.RunState:
        with self._lock:
            raw = self._live(self._runs.get(run_id))
        found = decode(f"run:{run_id}", raw, model.RunState)
        if found is None:
            raise UnknownRun(run_id)
        return found

    def list_runs(self, pipeline: str, limit: int = base.DEFAULT_RUNS_LIMIT) -> list[model.RunState]:
        limit = limit if limit > 0 else base.DEFAULT_RUNS_LIMIT
        with self._lock:
            ids = self._newest(self._run_index.get(pipeline, {}), limit)
            entries = [self._runs.get(i) for i in ids]
            return self._records([f"run:{i}" for i in ids], entries, model.RunState)

    def cas_run(self, run_id: str, expected_version: int, new: model.RunState) -> bool:
        if new.version != expected_version + 1:
            raise ValueError(f"new version must be {expected_version + 1}, got {new.version}")
        if new.run_id != run_id:
            raise ValueError(f"run id mismatch: {new.run_id!r} != {run_id!r}")
        raw = dump(new)
        with self._lock:
            current = self._live(self._runs.get(run_id))  # an expired run is gone: no CAS brings it back
            if current is None:
                return False
            try:
                version = json.loads(current).get("version")
            except (ValueError, AttributeError):
                return False
            if version != expected_version:
                return False
            self._runs[run_id] = _Entry(raw, self._run_exp(new.status))
            self._feed(base.ChangeKind.RUN, raw)
            return True

    def claim(self, key: str, run: model.RunState, epoch: str | None = None) -> tuple[model.RunState, bool]:
        with self._lock:
            if epoch and (self._epoch.id if self._epoch else None) != epoch:
                raise base.EpochChanged(epoch, self._epoch.id if self._epoch else None)
            owner = self._live(self._claims.get(key))
            if owner is None:
                self._claims[key] = _Entry(run.run_id, self._now_ms() + self._retention_ms())
                self._store_run(run, dump(run))
                return run, True
        return self.get_run(owner), False

    def confirm_claim(self, key: str, run: model.RunState) -> bool:
        return True  # one process, no replicas

    # -- run logs ---------------------------------------------------------------------------------

    def put_run_log(self, entry: model.RunLogEntry) -> None:
        entry = entry.model_copy(update={"schedule_id": entry.schedule_id or model.DEFAULT_SCHEDULE})
        raw = dump(entry)
        with self._lock:
            ident = (entry.date, entry.schedule_id)
            self._run_logs[(entry.pipeline_id, *ident)] = _Entry(raw, self._now_ms() + self._retention_ms())
            index = self._run_log_index.setdefault(entry.pipeline_id, {})
            index[ident] = (_ms(entry.started_at), *ident)
            self._trim(index, RUN_LOG_INDEX_LIMIT)
            self._feed(base.ChangeKind.RUN_LOG, raw)
            if entry.pipeline_id in self._pipelines:
                self._set_status(after_run_log(self._status.get(entry.pipeline_id), entry, self.clock.now()))

    def get_run_log(self, pipeline: str, date: str, schedule: str = model.DEFAULT_SCHEDULE) -> model.RunLogEntry | None:
        schedule = schedule or model.DEFAULT_SCHEDULE
        with self._lock:
            raw = self._live(self._run_logs.get((pipeline, date, schedule)))
        return decode(f"runlog:{pipeline}:{date}:{schedule}", raw, model.RunLogEntry)

    def list_run_logs(self, pipeline: str, limit: int = base.DEFAULT_RUN_LOGS_LIMIT) -> list[model.RunLogEntry]:
        limit = limit if limit > 0 else base.DEFAULT_RUN_LOGS_LIMIT
        with self._lock:
            newest = sorted(self._run_log_index.get(pipeline, {}).values(), reverse=True)[:limit]
            names = [f"runlog:{pipeline}:{date}:{schedule}" for _, date, schedule in newest]
            entries = [self._run_logs.get((pipeline, date, schedule)) for _, date, schedule in newest]
            return self._records(names, entries, model.RunLogEntry)

    # -- events -----------------------------------------------------------------------------------

    def append_event(self, event: model.Event) -> str:
        raw = dump(event)
        with self._lock:
            now_ms = self._now_ms()
            seq = self._feed(base.ChangeKind.EVENT, raw, ref_is_seq=True)
            logged = _Logged(seq, raw, now_ms + self._retention_ms())
            for entries, cap in ((self._events.setdefault(event.pipeline_id, []), self.event_stream_max),
                                 (self._all_events, GLOBAL_EVENT_LOG_MAX)):
                entries.append(logged)
                expired = next((i for i, e in enumerate(entries) if e.exp > now_ms), len(entries))
                del entries[: max(expired, len(entries) - cap)]
        # One number names the event in its pipeline's log, in the global log and in the change feed.
        return _cursor(seq)

    def _decode_events(self, name: str, entries: list[_Logged]) -> list[base.EventRecord]:
        now_ms = self._now_ms()
        records = []
        for logged in entries:
            if logged.exp <= now_ms:
                continue
            event = decode(f"{name}#{_cursor(logged.seq)}", logged.raw, model.Event)
            if event is not None:
                records.append(base.EventRecord(_cursor(logged.seq), event))
        return records

    def list_events(self, pipeline: str, limit: int = base.DEFAULT_EVENTS_LIMIT) -> list[base.EventRecord]:
        limit = limit if limit > 0 else base.DEFAULT_EVENTS_LIMIT
        with self._lock:
            records = self._decode_events(f"events:{pipeline}", self._events.get(pipeline, []))
        return records[-limit:]

    def _read(self, name: str, entries: list[_Logged], after: str, count: int) -> list[base.EventRecord]:
        count = count if count > 0 else base.DEFAULT_READ_COUNT
        start = bisect.bisect_right(entries, base.sequence_after(after), key=lambda e: e.seq)
        found: list[base.EventRecord] = []
        while len(found) < count and start < len(entries):
            page = entries[start:start + count - len(found)]
            found += self._decode_events(name, page)
            start += len(page)
        return found

    def read_events(self, pipeline: str, after: str = "",
                    count: int = base.DEFAULT_READ_COUNT) -> list[base.EventRecord]:
        with self._lock:
            return self._read(f"events:{pipeline}", self._events.get(pipeline, []), after, count)

    def read_all_events(self, after: str = "", count: int = base.DEFAULT_READ_COUNT) -> list[base.EventRecord]:
        with self._lock:
            return self._read("g:events", self._all_events, after, count)

    # -- reruns and alerts ------------------------------------------------------------------------

    def put_rerun(self, record: model.RerunRecord) -> None:
        raw = dump(record)
        score = (_ms(record.requested_at), record.rerun_id)
        with self._lock:
            self._reruns[record.rerun_id] = _Entry(raw, self._run_exp(record.status))
            for index, keep in ((self._rerun_index.setdefault(record.pipeline_id, {}), RERUN_INDEX_LIMIT),
                                (self._all_reruns, GLOBAL_RERUN_INDEX_LIMIT)):
                index[record.rerun_id] = score
                self._trim(index, keep)
            self._feed(base.ChangeKind.RERUN, raw)

    def get_rerun(self, rerun_id: str) -> model.RerunRecord | None:
        with self._lock:
            raw = self._live(self._reruns.get(rerun_id))
        return decode(f"rerun:{rerun_id}", raw, model.RerunRecord)

    def _list_reruns(self, index: dict[str, tuple[int, str]], limit: int) -> list[model.RerunRecord]:
        ids = self._newest(index, limit)
        return self._records([f"rerun:{i}" for i in ids], [self._reruns.get(i) for i in ids], model.RerunRecord)

    def list_reruns(self, pipeline: str, limit: int = base.DEFAULT_RERUNS_LIMIT) -> list[model.RerunRecord]:
        limit = limit if limit > 0 else base.DEFAULT_RERUNS_LIMIT
        with self._lock:
            return self._list_reruns(self._rerun_index.get(pipeline, {}), limit)

    def list_all_reruns(self, limit: int = base.DEFAULT_ALL_RERUNS_LIMIT) -> list[model.RerunRecord]:
        limit = limit if limit > 0 else base.DEFAULT_ALL_RERUNS_LIMIT
        with self._lock:
            return self._list_reruns(self._all_reruns, limit)

    def put_alert(self, alert: model.Alert, outbox: base.OutboxEntry | None = None) -> model.Alert:
        if not alert.alert_id:
            alert = alert.model_copy(update={"alert_id": str(_ms(alert.timestamp))})
        raw = dump(alert)
        with self._lock:
            seq = self._feed(base.ChangeKind.ALERT, raw)
            row = (_ms(alert.timestamp), seq, _Entry(raw, self._now_ms() + self._retention_ms()))
            lists = [self._all_alerts] + ([self._alerts.setdefault(alert.pipeline_id, [])] if alert.pipeline_id else [])
            for alerts in lists:
                bisect.insort(alerts, row, key=lambda r: (r[0], r[1]))
                del alerts[: max(0, len(alerts) - ALERT_INDEX_LIMIT)]
            if outbox is not None:
                self._values[outbox.key] = _Entry(outbox.value, self._now_ms() + max(1, int(outbox.ttl * 1000)))
                self._due[outbox.due_key] = _ms(outbox.due_at)
        return alert

    def record_delivery(self, delivery: model.AlertDelivery) -> None:
        with self._lock:
            self._delivery_seq += 1
            row = (_ms(delivery.at), self._delivery_seq, _Entry(dump(delivery), self._now_ms() + self._retention_ms()))
            for failed in [False] + ([] if delivery.ok else [True]):
                rows = self._deliveries[failed]
                bisect.insort(rows, row, key=lambda r: (r[0], r[1]))
                del rows[: max(0, len(rows) - base.DELIVERY_INDEX_LIMIT)]

    def list_deliveries(self, limit: int = base.DEFAULT_DELIVERIES_LIMIT,
                        failed: bool = False) -> list[model.AlertDelivery]:
        limit = limit if limit > 0 else base.DEFAULT_DELIVERIES_LIMIT
        found: list[model.AlertDelivery] = []
        with self._lock:
            for _, _, entry in reversed(self._deliveries[failed]):
                delivery = decode("g:deliveries", self._live(entry), model.AlertDelivery)
                if delivery is not None:
                    found.append(delivery)
                if len(found) >= limit:
                    break
        return found

    def _list_alerts(self, name: str, alerts: list[tuple[int, int, _Entry]], limit: int) -> list[model.Alert]:
        limit = limit if limit > 0 else base.DEFAULT_ALERTS_LIMIT
        return base.first_decoded((decode(name, self._live(entry), model.Alert) for _, _, entry in reversed(alerts)),
                                  limit)

    def list_alerts(self, pipeline: str, limit: int = base.DEFAULT_ALERTS_LIMIT) -> list[model.Alert]:
        with self._lock:
            return self._list_alerts(f"alerts:{pipeline}", self._alerts.get(pipeline, []), limit)

    def list_all_alerts(self, limit: int = base.DEFAULT_ALERTS_LIMIT) -> list[model.Alert]:
        with self._lock:
            return self._list_alerts("g:alerts", self._all_alerts, limit)

    # -- coordination -----------------------------------------------------------------------------

    def acquire_lock(self, key: str, ttl: float) -> base.Lock | None:
        if ttl <= 0:
            raise ValueError(f"lock TTL must be > 0 seconds, got {ttl}")
        with self._lock:
            now_ms = self._now_ms()
            held = self._locks.get(key)
            if held is not None and held[1] > now_ms:
                return None
            fence = self._fences.get(key, 0) + 1  # kept after release and expiry, so fences never repeat
            self._fences[key] = fence
            token = f"{fence}:{uuid.uuid4().hex}"
            self._locks[key] = (token, now_ms + max(1, int(ttl * 1000)))
            return base.Lock(key, token, fence)

    def _holds(self, lock: base.Lock) -> bool:
        """Whether ``lock`` still holds its key: its token, not expired (the caller holds ``_lock``)."""
        held = self._locks.get(lock.key)
        return held is not None and held[0] == lock.token and held[1] > self._now_ms()

    def release_lock(self, lock: base.Lock) -> bool:
        with self._lock:
            if not self._holds(lock):
                return False
            del self._locks[lock.key]
            return True

    def extend_lock(self, lock: base.Lock, ttl: float) -> bool:
        if ttl <= 0:
            raise ValueError(f"lock TTL must be > 0 seconds, got {ttl}")
        with self._lock:
            if not self._holds(lock):
                return False
            self._locks[lock.key] = (lock.token, self._now_ms() + max(1, int(ttl * 1000)))
            return True

    def put_value(self, key: str, value: str, ttl: float | None = None) -> None:
        with self._lock:
            exp = self._now_ms() + max(1, int(ttl * 1000)) if ttl else _NEVER
            self._values[key] = _Entry(value, exp)

    def get_value(self, key: str) -> str | None:
        with self._lock:
            return self._live(self._values.get(key))

    def batch(self) -> AbstractContextManager[None]:
        return nullcontext()  # every write is already one step in memory

    def get_epoch(self) -> base.Epoch | None:
        with self._lock:
            return self._epoch

    def swap_epoch(self, expected: str | None, new: base.Epoch) -> bool:
        if not new.id:
            raise ValueError("an epoch needs a non-empty id")
        with self._lock:
            current = self._epoch.id if self._epoch else None
            if current != expected:
                return False
            self._epoch = new
            return True

    def count(self, amounts: dict[str, float]) -> None:
        with self._lock:
            for name, amount in amounts.items():
                self._metrics[name] = self._metrics.get(name, 0.0) + amount

    def counts(self) -> dict[str, float]:
        with self._lock:
            return dict(self._metrics)

    def mark_once(self, key: str, ttl: float) -> bool:
        if ttl <= 0:
            raise ValueError(f"dedup TTL must be > 0 seconds, got {ttl}")
        with self._lock:
            now_ms = self._now_ms()
            if self._once.get(key, 0) > now_ms:
                return False
            self._once[key] = now_ms + max(1, int(ttl * 1000))
            return True

    def set_due(self, key: str, at: datetime) -> None:
        with self._lock:
            self._due[key] = _ms(at)

    def set_due_many(self, keys: list[str], at: datetime) -> None:
        with self._lock:
            self._due.update(dict.fromkeys(keys, _ms(at)))

    def add_due_many(self, keys: list[str], at: datetime) -> int:
        with self._lock:
            missing = [key for key in dict.fromkeys(keys) if key not in self._due]
            self._due.update(dict.fromkeys(missing, _ms(at)))
        return len(missing)

    def clear_due(self, key: str, only_if_at: datetime | None = None) -> bool:
        with self._lock:
            if key not in self._due or (only_if_at is not None and self._due[key] != _ms(only_if_at)):
                return False
            del self._due[key]
            return True

    def due(self, now: datetime, limit: int = 1000) -> list[base.DueItem]:
        if limit <= 0:
            return []
        end = _ms(now)
        with self._lock:
            rows = sorted((at, key) for key, at in self._due.items() if at <= end)[:limit]
        return [base.DueItem(key, datetime.fromtimestamp(at / 1000, UTC)) for at, key in rows]

    def due_at(self, key: str) -> datetime | None:
        with self._lock:
            at = self._due.get(key)
        return None if at is None else datetime.fromtimestamp(at / 1000, UTC)

    def breaker(self, key: str, op: base.BreakerOp, now: datetime, policy: base.BreakerPolicy) -> tuple[bool, str]:
        with self._lock:
            state, fields, exp = self._breakers.get(key, ("CLOSED", {}, _NEVER))
            if exp <= self._now_ms():
                state, fields = "CLOSED", {}
            current = {name: fields.get(name, 0.0) for name in ("failures", "lastFailure", "openedAt", "probeAt")}
            flag, after, changes = base.breaker_step(state, current, op, _ms(now), policy)
            if changes is not None:
                keep_ms = int(max(policy.window, policy.cooldown) * 1000) + BREAKER_KEEP_MS
                self._breakers[key] = (after, {**current, **changes}, self._now_ms() + keep_ms)
            return flag, after

    # -- archive feed -----------------------------------------------------------------------------

    def read_changes(self, after: str = "", count: int = 500) -> list[base.Change]:
        count = count if count > 0 else 500
        with self._lock:
            start = bisect.bisect_right(self._changes, base.sequence_after(after), key=lambda c: c.seq)
            page = self._changes[start:start + count]
        changes = []
        for fed in page:
            try:
                data = json.loads(fed.raw)
                if not isinstance(data, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                log.warning("store: skipping corrupt change changes#%s: %s", _cursor(fed.seq), exc)
                # Still yielded, so a reader's cursor moves past it.
                changes.append(base.Change(_cursor(fed.seq), base.ChangeKind.UNREADABLE, {}))
                continue
            changes.append(base.Change(_cursor(fed.seq), fed.kind, data, fed.ref))
        return changes

    def change_backlog(self) -> int:
        with self._lock:
            return len(self._changes)

    def trim_changes(self, upto: str) -> int:
        """Forget changes up to and including cursor ``upto`` (already archived)."""
        with self._lock:
            end = bisect.bisect_right(self._changes, base.sequence_after(upto), key=lambda c: c.seq)
            del self._changes[:end]
            return end
