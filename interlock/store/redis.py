"""The Redis state store (the local / self-hosted mode).

Every write the archive needs goes to the change stream in the same atomic step (Lua or MULTI/EXEC)
as the record itself, so the archive can never miss a record that exists. The key layout (every key
under the configured prefix, global indexes under ``g:``): docs/stores.md, "Redis".
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import cached_property
from importlib import resources
from typing import Any, cast

import redis

from interlock import redisconn
from interlock.clock import SYSTEM, Clock
from interlock.config.project import Settings, normalise_prefix
from interlock.errors import UnknownPipeline, UnknownRun
from interlock.model import (
    DEFAULT_SCHEDULE,
    TERMINAL_RUN_STATUSES,
    Alert,
    Event,
    PipelineConfig,
    ReadinessResult,
    RerunRecord,
    RunLogEntry,
    RunState,
    RunStatus,
    TraitEvaluation,
)
from interlock.store.base import (
    DEFAULT_ALERTS_LIMIT,
    DEFAULT_ALL_RERUNS_LIMIT,
    DEFAULT_EVENTS_LIMIT,
    DEFAULT_READ_COUNT,
    DEFAULT_RERUNS_LIMIT,
    DEFAULT_RUN_LOGS_LIMIT,
    DEFAULT_RUNS_LIMIT,
    BreakerOp,
    BreakerPolicy,
    Change,
    ChangeKind,
    DueItem,
    Epoch,
    EventRecord,
    Lock,
    SensorReading,
    TraitSource,
    decode_epoch,
)
from interlock.store.codec import M, decode, dump

log = logging.getLogger(__name__)

# Entries kept in the run-log, rerun and alert indexes (newest first).
RUN_LOG_INDEX_LIMIT = 100
RERUN_INDEX_LIMIT = 100
GLOBAL_RERUN_INDEX_LIMIT = 500
ALERT_INDEX_LIMIT = 500
# Approximate cap of the global event stream (per-pipeline streams use eventStreamMax).
GLOBAL_EVENT_STREAM_MAX = 100_000
# Approximate cap of the change stream. The archiver trims what it has committed; the cap only
# bounds memory when no archiver runs, so it must be far above what an archiver can lag behind.
CHANGE_STREAM_MAX = 1_000_000
# Non-terminal runs outlive terminal ones by this much, so a stuck run is still there to report.
ACTIVE_RUN_GRACE = timedelta(hours=24)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class RedisStore:
    """:class:`~interlock.store.base.Store` on Redis (redis-py, RESP2, decoded strings)."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "interlock:",
        *,
        retention: timedelta = timedelta(days=7),
        run_index_limit: int = 100,
        event_stream_max: int = 10_000,
        clock: Clock = SYSTEM,
        min_replicas_acked: int = 0,
        replica_ack_timeout: timedelta = timedelta(milliseconds=500),
    ) -> None:
        self.r = client
        self.prefix = normalise_prefix(prefix)
        self.retention = retention
        self.run_index_limit = run_index_limit
        self.event_stream_max = event_stream_max
        self.clock = clock
        self.min_replicas_acked = min_replicas_acked
        self.replica_ack_timeout_ms = max(1, int(replica_ack_timeout.total_seconds() * 1000))
        self._scripts = {name: self.r.register_script(_lua(name)) for name in _SCRIPTS}

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = SYSTEM) -> RedisStore:
        client = redisconn.client(settings, decode_responses=True, health_check_interval=30)
        return cls(
            client,
            settings.key_prefix,
            retention=settings.retention_ttl,
            run_index_limit=settings.run_index_limit,
            event_stream_max=settings.event_stream_max,
            clock=clock,
            min_replicas_acked=settings.min_replicas_acked,
            replica_ack_timeout=settings.replica_ack_timeout,
        )

    # -- plumbing ---------------------------------------------------------------------------------

    def k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def ping(self) -> None:
        self.r.ping()

    def close(self) -> None:
        self.r.close()

    @cached_property
    def _changes(self) -> str:
        return self.k("changes")

    def _change(self, pipe: Any, kind: ChangeKind, data: str) -> None:
        """Queue the change-stream entry for ``data`` on ``pipe`` (inside the same MULTI/EXEC)."""
        pipe.xadd(self._changes, {"kind": kind.value, "data": data}, maxlen=CHANGE_STREAM_MAX, approximate=True)

    def _run_ttl_ms(self, status: RunStatus) -> int:
        ttl = self.retention if status in TERMINAL_RUN_STATUSES else self.retention + ACTIVE_RUN_GRACE
        return int(ttl.total_seconds() * 1000)

    def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return self._scripts[name](keys=keys, args=args)

    # -- pipelines --------------------------------------------------------------------------------

    def register_pipeline(self, config: PipelineConfig) -> None:
        key = self.k("pipeline", config.name)
        old = decode(key, cast(str | None, self.r.get(key)), PipelineConfig)
        before = set(old.upstreams()) if old else set()
        after = set(config.upstreams())
        with self.r.pipeline(transaction=True) as p:
            # What was given, as given: defaults stay defaults when the model grows new ones.
            p.set(key, json.dumps(config.to_json(), separators=(",", ":")))
            p.set(self.k("registered", config.name), self.clock.now().isoformat(), nx=True)
            p.sadd(self.k("pipelines"), config.name)
            for upstream in before - after:
                p.srem(self.k("deps", upstream), config.name)
            for upstream in after:
                p.sadd(self.k("deps", upstream), config.name)
            p.execute()

    def get_pipeline(self, name: str) -> PipelineConfig:
        key = self.k("pipeline", name)
        found = decode(key, cast(str | None, self.r.get(key)), PipelineConfig)
        if found is None:
            raise UnknownPipeline(name)
        return found

    def registered_at(self, name: str) -> datetime | None:
        raw = cast(str | None, self.r.get(self.k("registered", name)))
        try:
            return datetime.fromisoformat(raw) if raw else None
        except ValueError:
            log.warning("store: skipping corrupt value at %s", self.k("registered", name))
            return None

    def list_pipelines(self) -> list[PipelineConfig]:
        names = sorted(cast(set[str], self.r.smembers(self.k("pipelines"))))
        keys = [self.k("pipeline", n) for n in names]
        values = cast(list[str | None], self.r.mget(keys)) if keys else []
        return [c for c in (decode(k, v, PipelineConfig) for k, v in zip(keys, values, strict=True)) if c]

    def delete_pipeline(self, name: str) -> None:
        key = self.k("pipeline", name)
        old = decode(key, cast(str | None, self.r.get(key)), PipelineConfig)
        with self.r.pipeline(transaction=True) as p:
            for upstream in old.upstreams() if old else []:
                p.srem(self.k("deps", upstream), name)
            p.delete(key)
            p.srem(self.k("pipelines"), name)
            p.execute()

    def list_dependents(self, upstream: str) -> list[str]:
        return sorted(cast(set[str], self.r.smembers(self.k("deps", upstream))))

    # -- traits, readiness, sensors ---------------------------------------------------------------

    def _trait_hash(self, pipeline: str, source: TraitSource) -> str:
        return self.k("pushed" if source is TraitSource.PUSH else "traits", pipeline)

    def put_trait(self, evaluation: TraitEvaluation, ttl: int, source: TraitSource = TraitSource.EVALUATOR) -> None:
        if ttl > 0:
            evaluation = evaluation.model_copy(update={"expires_at": evaluation.evaluated_at + timedelta(seconds=ttl)})
        else:
            evaluation = evaluation.model_copy(update={"expires_at": None})
        evaluation = evaluation.model_copy(update={"source": source.value})
        key = self._trait_hash(evaluation.pipeline_id, source)
        with self.r.pipeline(transaction=True) as p:
            p.hset(key, evaluation.trait_type, dump(evaluation))
            p.expire(key, int(self.retention.total_seconds()))
            p.execute()

    def _fresh(self, evaluation: TraitEvaluation | None) -> TraitEvaluation | None:
        if evaluation is None or (evaluation.expires_at and evaluation.expires_at <= self.clock.now()):
            return None
        return evaluation

    def get_trait(
        self, pipeline: str, trait_type: str, source: TraitSource = TraitSource.EVALUATOR
    ) -> TraitEvaluation | None:
        key = self._trait_hash(pipeline, source)
        raw = cast(str | None, self.r.hget(key, trait_type))
        return self._fresh(decode(f"{key}[{trait_type}]", raw, TraitEvaluation))

    def get_traits(self, pipeline: str, source: TraitSource = TraitSource.EVALUATOR) -> list[TraitEvaluation]:
        key = self._trait_hash(pipeline, source)
        found = []
        for field, raw in sorted(cast(dict[str, str], self.r.hgetall(key)).items()):
            evaluation = self._fresh(decode(f"{key}[{field}]", raw, TraitEvaluation))
            if evaluation:
                found.append(evaluation)
        return found

    def put_readiness(self, result: ReadinessResult, ttl: int) -> None:
        self.r.set(self.k("readiness", result.pipeline_id), dump(result), ex=max(1, ttl))

    def get_readiness(self, pipeline: str) -> ReadinessResult | None:
        key = self.k("readiness", pipeline)
        return decode(key, cast(str | None, self.r.get(key)), ReadinessResult)

    def put_sensor(self, reading: SensorReading) -> None:
        doc = {"pipelineId": reading.pipeline_id, "sensorType": reading.sensor_type,
               "value": reading.value, "updatedAt": reading.updated_at.isoformat()}
        self.r.set(self.k("sensor", reading.pipeline_id, reading.sensor_type), json.dumps(doc))

    def get_sensor(self, pipeline: str, sensor_type: str) -> SensorReading | None:
        key = self.k("sensor", pipeline, sensor_type)
        raw = cast(str | None, self.r.get(key))
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
            return SensorReading(doc["pipelineId"], doc["sensorType"], dict(doc["value"]),
                                 datetime.fromisoformat(doc["updatedAt"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("store: skipping corrupt value at %s: %s", key, exc)
            return None

    # -- runs -------------------------------------------------------------------------------------

    def put_run(self, run: RunState) -> None:
        data = dump(run)
        with self.r.pipeline(transaction=True) as p:
            p.set(self.k("run", run.run_id), data, px=self._run_ttl_ms(run.status))
            index = self.k("runs", run.pipeline_id)
            p.zadd(index, {run.run_id: _ms(run.created_at)})
            p.zremrangebyrank(index, 0, -(self.run_index_limit + 1))
            self._change(p, ChangeKind.RUN, data)
            p.execute()

    def get_run(self, run_id: str) -> RunState:
        key = self.k("run", run_id)
        found = decode(key, cast(str | None, self.r.get(key)), RunState)
        if found is None:
            raise UnknownRun(run_id)
        return found

    def list_runs(self, pipeline: str, limit: int = DEFAULT_RUNS_LIMIT) -> list[RunState]:
        limit = limit if limit > 0 else DEFAULT_RUNS_LIMIT
        ids = cast(list[str], self.r.zrevrange(self.k("runs", pipeline), 0, limit - 1))
        return self._many([self.k("run", i) for i in ids], RunState)

    def _many(self, keys: list[str], model: type[M]) -> list[M]:
        """MGET ``keys`` in one round trip; missing and corrupt values are skipped."""
        if not keys:
            return []
        values = cast(list[str | None], self.r.mget(keys))
        return [m for m in (decode(k, v, model) for k, v in zip(keys, values, strict=True)) if m]

    def cas_run(self, run_id: str, expected_version: int, new: RunState) -> bool:
        if new.version != expected_version + 1:
            raise ValueError(f"new version must be {expected_version + 1}, got {new.version}")
        if new.run_id != run_id:
            raise ValueError(f"run id mismatch: {new.run_id!r} != {run_id!r}")
        won = self._script("cas_run", [self.k("run", run_id), self._changes],
                           [expected_version, dump(new), self._run_ttl_ms(new.status), CHANGE_STREAM_MAX])
        return bool(won)

    def claim(self, key: str, run: RunState) -> tuple[RunState, bool]:
        won, owner = self._script(
            "claim",
            [self.k("claim", key), self.k("run", run.run_id), self.k("runs", run.pipeline_id), self._changes],
            [run.run_id, dump(run), int(self.retention.total_seconds() * 1000), self._run_ttl_ms(run.status),
             _ms(run.created_at), self.run_index_limit, CHANGE_STREAM_MAX],
        )
        if int(won):
            return run, True
        return self.get_run(str(owner)), False

    def confirm_claim(self, key: str, run: RunState) -> bool:
        # The step right after a won claim (docs/reliability.md, "Redis failover"); no round trip
        # at all for a single Redis (minReplicasAcked 0).
        if self.min_replicas_acked <= 0:
            return True
        if self._claim_replicated(run):
            return True
        self._script("withdraw_claim",
                     [self.k("claim", key), self.k("run", run.run_id), self.k("runs", run.pipeline_id)],
                     [run.run_id, dump(run)])
        return False

    def _claim_replicated(self, run: RunState) -> bool:
        """WAIT for the replicas, on one connection: the claim's run, as written, is here and acknowledged.

        WAIT counts the replicas that have the writes of *its own connection*, and the claim may
        have gone out on another pooled connection: the probe INCR, written after the claim
        returned, is later in the replication stream, so replicas that have it have the claim. The
        GET checks the claimed run is still the one written (not lost with a primary that failed
        over between the claim and now, then claimed afresh by another worker).
        """
        with self.r.pipeline(transaction=False) as p:
            p.get(self.k("run", run.run_id))
            p.incr(self.k("replication-probe"))
            p.wait(self.min_replicas_acked, self.replica_ack_timeout_ms)
            stored, _, acked = p.execute()
        return stored == dump(run) and int(acked) >= self.min_replicas_acked

    # -- run logs ---------------------------------------------------------------------------------

    def put_run_log(self, entry: RunLogEntry) -> None:
        entry = entry.model_copy(update={"schedule_id": entry.schedule_id or DEFAULT_SCHEDULE})
        data = dump(entry)
        index = self.k("runlogs", entry.pipeline_id)
        with self.r.pipeline(transaction=True) as p:
            p.set(self.k("runlog", entry.pipeline_id, entry.date, entry.schedule_id), data,
                  ex=int(self.retention.total_seconds()))
            p.zadd(index, {f"{entry.date}:{entry.schedule_id}": int(entry.started_at.timestamp())})
            p.zremrangebyrank(index, 0, -(RUN_LOG_INDEX_LIMIT + 1))
            self._change(p, ChangeKind.RUN_LOG, data)
            p.execute()

    def get_run_log(self, pipeline: str, date: str, schedule: str = DEFAULT_SCHEDULE) -> RunLogEntry | None:
        key = self.k("runlog", pipeline, date, schedule or DEFAULT_SCHEDULE)
        return decode(key, cast(str | None, self.r.get(key)), RunLogEntry)

    def list_run_logs(self, pipeline: str, limit: int = DEFAULT_RUN_LOGS_LIMIT) -> list[RunLogEntry]:
        limit = limit if limit > 0 else DEFAULT_RUN_LOGS_LIMIT
        members = cast(list[str], self.r.zrevrange(self.k("runlogs", pipeline), 0, limit - 1))
        keys = []
        for member in members:
            date, _, schedule = member.rpartition(":")
            keys.append(self.k("runlog", pipeline, date, schedule) if date else self.k("runlog", pipeline, member,
                                                                                       DEFAULT_SCHEDULE))
        return self._many(keys, RunLogEntry)

    # -- events -----------------------------------------------------------------------------------

    def append_event(self, event: Event) -> str:
        return str(self._script(
            "append_event",
            [self.k("events", event.pipeline_id), self.k("g", "events"), self._changes],
            [event.kind.value, dump(event), self.event_stream_max, int(self.retention.total_seconds() * 1000),
             GLOBAL_EVENT_STREAM_MAX, CHANGE_STREAM_MAX],
        ))

    def _records(self, key: str, entries: Iterable[tuple[str, dict[str, str]]]) -> list[EventRecord]:
        records = []
        for stream_id, fields in entries:
            event = decode(f"{key}#{stream_id}", fields.get("data"), Event)
            if event is not None:
                records.append(EventRecord(fields.get("ref", stream_id), event))
        return records

    def list_events(self, pipeline: str, limit: int = DEFAULT_EVENTS_LIMIT) -> list[EventRecord]:
        limit = limit if limit > 0 else DEFAULT_EVENTS_LIMIT
        key = self.k("events", pipeline)
        entries = cast(list[tuple[str, dict[str, str]]], self.r.xrevrange(key, "+", "-", count=limit))
        return self._records(key, reversed(entries))

    def _read(self, key: str, after: str, count: int) -> list[EventRecord]:
        count = count if count > 0 else DEFAULT_READ_COUNT
        start = f"({after}" if after and after != "0-0" else "-"
        entries = cast(list[tuple[str, dict[str, str]]], self.r.xrange(key, start, "+", count=count))
        return self._records(key, entries)

    def read_events(self, pipeline: str, after: str = "", count: int = DEFAULT_READ_COUNT) -> list[EventRecord]:
        return self._read(self.k("events", pipeline), after, count)

    def read_all_events(self, after: str = "", count: int = DEFAULT_READ_COUNT) -> list[EventRecord]:
        # The global stream's own ids are the cursor here; records carry the per-pipeline id.
        key = self.k("g", "events")
        count = count if count > 0 else DEFAULT_READ_COUNT
        start = f"({after}" if after and after != "0-0" else "-"
        entries = cast(list[tuple[str, dict[str, str]]], self.r.xrange(key, start, "+", count=count))
        records = []
        for stream_id, fields in entries:
            event = decode(f"{key}#{stream_id}", fields.get("data"), Event)
            if event is not None:
                records.append(EventRecord(stream_id, event))
        return records

    # -- reruns and alerts ------------------------------------------------------------------------

    def put_rerun(self, record: RerunRecord) -> None:
        data = dump(record)
        score = int(record.requested_at.timestamp())
        with self.r.pipeline(transaction=True) as p:
            p.set(self.k("rerun", record.rerun_id), data, px=self._run_ttl_ms(record.status))
            for index, limit in ((self.k("reruns", record.pipeline_id), RERUN_INDEX_LIMIT),
                                 (self.k("g", "reruns"), GLOBAL_RERUN_INDEX_LIMIT)):
                p.zadd(index, {record.rerun_id: score})
                p.zremrangebyrank(index, 0, -(limit + 1))
            self._change(p, ChangeKind.RERUN, data)
            p.execute()

    def get_rerun(self, rerun_id: str) -> RerunRecord | None:
        key = self.k("rerun", rerun_id)
        return decode(key, cast(str | None, self.r.get(key)), RerunRecord)

    def list_reruns(self, pipeline: str, limit: int = DEFAULT_RERUNS_LIMIT) -> list[RerunRecord]:
        limit = limit if limit > 0 else DEFAULT_RERUNS_LIMIT
        ids = cast(list[str], self.r.zrevrange(self.k("reruns", pipeline), 0, limit - 1))
        return self._many([self.k("rerun", i) for i in ids], RerunRecord)

    def list_all_reruns(self, limit: int = DEFAULT_ALL_RERUNS_LIMIT) -> list[RerunRecord]:
        limit = limit if limit > 0 else DEFAULT_ALL_RERUNS_LIMIT
        ids = cast(list[str], self.r.zrevrange(self.k("g", "reruns"), 0, limit - 1))
        return self._many([self.k("rerun", i) for i in ids], RerunRecord)

    def put_alert(self, alert: Alert) -> Alert:
        if not alert.alert_id:
            alert = alert.model_copy(update={"alert_id": str(_ms(alert.timestamp))})
        data = dump(alert)
        score = _ms(alert.timestamp)
        with self.r.pipeline(transaction=True) as p:
            indexes = [self.k("g", "alerts")]
            if alert.pipeline_id:
                indexes.append(self.k("alerts", alert.pipeline_id))
            for index in indexes:
                p.zadd(index, {data: score})
                p.zremrangebyrank(index, 0, -(ALERT_INDEX_LIMIT + 1))
            self._change(p, ChangeKind.ALERT, data)
            p.execute()
        return alert

    def _alerts(self, key: str, limit: int) -> list[Alert]:
        limit = limit if limit > 0 else DEFAULT_ALERTS_LIMIT
        members = cast(list[str], self.r.zrevrange(key, 0, limit - 1))
        return [a for a in (decode(key, m, Alert) for m in members) if a]

    def list_alerts(self, pipeline: str, limit: int = DEFAULT_ALERTS_LIMIT) -> list[Alert]:
        return self._alerts(self.k("alerts", pipeline), limit)

    def list_all_alerts(self, limit: int = DEFAULT_ALERTS_LIMIT) -> list[Alert]:
        return self._alerts(self.k("g", "alerts"), limit)

    # -- coordination -----------------------------------------------------------------------------

    def acquire_lock(self, key: str, ttl: float) -> Lock | None:
        if ttl <= 0:
            raise ValueError(f"lock TTL must be > 0 seconds, got {ttl}")
        token = self._script("acquire_lock", [self.k("lock", key), self.k("fence", key)],
                             [uuid.uuid4().hex, max(1, int(ttl * 1000))])
        if not token:
            return None
        return Lock(key, str(token), int(str(token).split(":", 1)[0]))

    def release_lock(self, lock: Lock) -> bool:
        return bool(self._script("release_lock", [self.k("lock", lock.key)], [lock.token]))

    def extend_lock(self, lock: Lock, ttl: float) -> bool:
        if ttl <= 0:
            raise ValueError(f"lock TTL must be > 0 seconds, got {ttl}")
        return bool(self._script("extend_lock", [self.k("lock", lock.key)], [lock.token, max(1, int(ttl * 1000))]))

    def put_value(self, key: str, value: str, ttl: float | None = None) -> None:
        self.r.set(self.k("value", key), value, px=int(ttl * 1000) if ttl else None)

    def get_value(self, key: str) -> str | None:
        return cast(str | None, self.r.get(self.k("value", key)))

    def get_epoch(self) -> Epoch | None:
        key = self.k("epoch")
        try:
            fields = cast(dict[str, str], self.r.hgetall(key))
        except redis.ResponseError as exc:  # another type at the key: damaged, read as none (healed)
            log.warning("store: unreadable epoch at %s: %s", key, exc)
            return None
        return decode_epoch(key, fields) if fields.get("id") else None

    def swap_epoch(self, expected: str | None, new: Epoch) -> bool:
        if not new.id:
            raise ValueError("an epoch needs a non-empty id")
        fields = {"id": new.id, "createdAt": new.created_at.isoformat(), "previous": new.previous}
        if new.reset_at is not None:
            fields["resetAt"] = new.reset_at.isoformat()
        pairs = [part for item in fields.items() for part in item]
        return bool(self._script("swap_epoch", [self.k("epoch")], [expected or "", *pairs]))

    def count(self, amounts: dict[str, float]) -> None:
        with self.r.pipeline(transaction=False) as p:
            for name, amount in amounts.items():
                p.hincrbyfloat(self.k("metrics"), name, amount)
            p.execute()

    def counts(self) -> dict[str, float]:
        return {k: float(v) for k, v in cast(dict[str, str], self.r.hgetall(self.k("metrics"))).items()}

    def mark_once(self, key: str, ttl: float) -> bool:
        if ttl <= 0:
            raise ValueError(f"dedup TTL must be > 0 seconds, got {ttl}")
        return bool(self.r.set(self.k("once", key), "1", nx=True, px=max(1, int(ttl * 1000))))

    def set_due(self, key: str, at: datetime) -> None:
        self.r.zadd(self.k("due"), {key: _ms(at)})

    def set_due_many(self, keys: list[str], at: datetime) -> None:
        if keys:
            self.r.zadd(self.k("due"), dict.fromkeys(keys, _ms(at)))

    def clear_due(self, key: str, only_if_at: datetime | None = None) -> bool:
        if only_if_at is None:
            return bool(self.r.zrem(self.k("due"), key))
        return bool(self._script("clear_due", [self.k("due")], [key, _ms(only_if_at)]))

    def due(self, now: datetime, limit: int = 1000) -> list[DueItem]:
        rows = cast(list[tuple[str, float]],
                    self.r.zrangebyscore(self.k("due"), "-inf", _ms(now), start=0, num=limit, withscores=True))
        return [DueItem(key, datetime.fromtimestamp(score / 1000, UTC)) for key, score in rows]

    def due_at(self, key: str) -> datetime | None:
        score = self.r.zscore(self.k("due"), key)
        return None if score is None else datetime.fromtimestamp(score / 1000, UTC)

    def breaker(self, key: str, op: BreakerOp, now: datetime, policy: BreakerPolicy) -> tuple[bool, str]:
        answer = str(self._script("breaker", [self.k("breaker", key)], [
            op.value, _ms(now), policy.threshold, int(policy.window * 1000), int(policy.cooldown * 1000),
            int(max(policy.window, policy.cooldown) * 1000) + 86_400_000,
        ]))
        flag, _, state = answer.rpartition(":")
        if op is BreakerOp.FAILURE:
            return flag == "tripped", state
        return flag != "deny", state

    # -- archive feed -----------------------------------------------------------------------------

    def read_changes(self, after: str = "", count: int = 500) -> list[Change]:
        start = f"({after}" if after and after != "0-0" else "-"
        entries = cast(list[tuple[str, dict[str, str]]], self.r.xrange(self._changes, start, "+", count=count))
        changes = []
        for change_id, fields in entries:
            try:
                kind = ChangeKind(fields.get("kind", ""))
                data = json.loads(fields["data"])
                if not isinstance(data, dict):
                    raise ValueError("not an object")
            except (ValueError, KeyError) as exc:
                log.warning("store: skipping corrupt change %s#%s: %s", self._changes, change_id, exc)
                # Still yielded, so a reader's cursor moves past it.
                changes.append(Change(change_id, ChangeKind.UNREADABLE, {}))
                continue
            changes.append(Change(change_id, kind, data, fields.get("ref", "")))
        return changes

    def trim_changes(self, upto: str) -> int:
        """Drop change-stream entries up to and including cursor ``upto`` (already archived)."""
        ms, _, seq = upto.partition("-")
        # XTRIM MINID keeps ids >= minid, so keep from the id right after ``upto``.
        return int(self.r.xtrim(self._changes, minid=f"{ms}-{int(seq or 0) + 1}", approximate=False))

    # -- deployment checks ------------------------------------------------------------------------

    def persistence(self) -> tuple[int, str]:
        """How this Redis keeps data across a restart, as (logging level, sentence) for a start-up log line.

        WARNING when it keeps nothing (no AOF, no RDB snapshots) or cannot be asked (CONFIG disabled
        or renamed, as on some managed services); INFO otherwise.
        """
        try:
            appendonly = cast(dict[str, str], self.r.config_get("appendonly")).get("appendonly", "")
            save = cast(dict[str, str], self.r.config_get("save")).get("save", "")
        except redis.ResponseError as exc:
            return logging.WARNING, (f"could not check Redis persistence (CONFIG GET refused: {exc}); make sure it "
                                     "runs with appendonly yes, or a restart loses every claim and due entry "
                                     "(see README 'Reliability')")
        if appendonly == "yes":
            return logging.INFO, "Redis persistence: append-only file on (appendonly yes)"
        if save.strip():
            return logging.WARNING, (f"Redis keeps only RDB snapshots (save {save!r}, appendonly no): a restart "
                                     "loses what changed since the last snapshot, and a lost claim can let a "
                                     "period run twice; set appendonly yes (see README 'Reliability')")
        return logging.WARNING, ("Redis has NO persistence (appendonly no, save ''): a restart empties the store, "
                                 "every claim, run log and due entry is lost and periods can run twice; set "
                                 "appendonly yes (see README 'Reliability')")

    # -- test support -----------------------------------------------------------------------------

    def purge(self) -> int:
        """Delete every key under this store's prefix (tests; never called by the product)."""
        deleted = 0
        for batch in _chunks(self.r.scan_iter(match=self.prefix + "*", count=1000), 500):
            deleted += int(self.r.delete(*batch))
        return deleted


_SCRIPTS = ("cas_run", "claim", "withdraw_claim", "acquire_lock", "release_lock", "extend_lock", "append_event",
            "clear_due", "breaker", "swap_epoch")



def _lua(name: str) -> str:
    return (resources.files("interlock.store") / f"{name}.lua").read_text(encoding="utf-8")


def _chunks(items: Iterable[str], size: int) -> Iterable[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch

