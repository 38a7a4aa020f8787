"""The Redis state store (the local / self-hosted mode).

Every write the archive needs goes to the change stream in the same atomic step (Lua or MULTI/EXEC)
as the record itself, so the archive can never miss a record that exists. The key layout (every key
under the configured prefix, global indexes under ``g:``): docs/stores.md, "Redis".
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cached_property, partial
from importlib import resources
from typing import Any, cast

import redis

from interlock import model, redisconn
from interlock.clock import SYSTEM, Clock
from interlock.config.project import Settings, normalise_prefix
from interlock.errors import UnknownPipeline, UnknownRun
from interlock.store import base
from interlock.store.codec import M, decode, dump
from interlock.store.status import STATES, PipelineStatus, after_readiness, after_register, after_run_log

log = logging.getLogger(__name__)

# Entries kept in the run-log, rerun and alert indexes (newest first).
RUN_LOG_INDEX_LIMIT = 100
RERUN_INDEX_LIMIT = 100
GLOBAL_RERUN_INDEX_LIMIT = 500
ALERT_INDEX_LIMIT = 500
# Approximate cap of the global event stream (per-pipeline streams use eventStreamMax).
GLOBAL_EVENT_STREAM_MAX = 100_000
# Approximate cap of the change stream (``archiver.streamCap``). The archiver trims what it has
# committed; the cap bounds memory when there is no archive. With an archive configured the stream
# is not trimmed at the cap (``change_stream_max=0``): see docs/reliability.md, "Archive path".
CHANGE_STREAM_MAX = 1_000_000
# Names read from an index at a time while filtering a page by name (``contains``).
STATUS_SCAN_CHUNK = 1000
# Keys scheduled per ZADD by ``add_due_many`` (a command stays well under Redis's size limits).
DUE_CHUNK = 10_000
# The MAXLEN passed when the stream must not be trimmed: the scripts always pass one, and no
# stream reaches this length.
NO_TRIM = 2**63 - 1
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
        change_stream_max: int = CHANGE_STREAM_MAX,
        clock: Clock = SYSTEM,
        min_replicas_acked: int = 0,
        replica_ack_timeout: timedelta = timedelta(milliseconds=500),
    ) -> None:
        """``change_stream_max``: the change stream's approximate cap; 0 never trims it (an archive reads it)."""
        self._client = client
        # This thread's open batch (see batch()): writes queued on one MULTI/EXEC pipeline.
        self._local = threading.local()
        self.prefix = normalise_prefix(prefix)
        self.retention = retention
        self.run_index_limit = run_index_limit
        self.event_stream_max = event_stream_max
        self.change_cap = change_stream_max if change_stream_max > 0 else NO_TRIM
        self.clock = clock
        self.min_replicas_acked = min_replicas_acked
        self.replica_ack_timeout_ms = max(1, int(replica_ack_timeout.total_seconds() * 1000))
        self._scripts = {name: client.register_script(_lua(name)) for name in _SCRIPTS}

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = SYSTEM) -> RedisStore:
        client = redisconn.client(settings, decode_responses=True, health_check_interval=30)
        return cls(
            client,
            settings.key_prefix,
            retention=settings.retention_ttl,
            run_index_limit=settings.run_index_limit,
            event_stream_max=settings.event_stream_max,
            # With an archive, what it has not copied yet is never trimmed away.
            change_stream_max=0 if settings.archive_enabled else settings.archive_stream_cap,
            clock=clock,
            min_replicas_acked=settings.min_replicas_acked,
            replica_ack_timeout=settings.replica_ack_timeout,
        )

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def r(self) -> redis.Redis:
        """The client, once this thread's batch has sent what it queued: every read sees the writes before it."""
        if getattr(self._local, "batch", None) is not None:
            self._flush()
        return self._client

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Queue this thread's writes and send them as one MULTI/EXEC when the block ends (one round trip).

        A read inside the block sends what is queued first, in the same round trip where it can (a
        script, a value, a run log, a pipeline, dependents), so a read always sees the writes before it.
        Writes queued here report success (``append_event`` returns ``""``, ``clear_due`` and
        ``release_lock`` True); an error surfaces when the queue is sent. A nested block joins the
        outer one and sends what is queued when it ends too: what a block wrote is in Redis after it,
        so a step may send a message right after its block (the next step must see the writes).
        """
        if getattr(self._local, "batch", None) is not None:
            yield
            self._flush()
            return
        self._local.batch = self._client.pipeline(transaction=True)
        try:
            yield
        except BaseException:
            try:
                self._flush()  # what was recorded before the failure is still written, as without a batch
            except Exception:
                log.exception("store: writing a batch after an error failed")
            raise
        else:
            self._flush()
        finally:
            self._local.batch = None

    def _batch(self) -> Any:
        """This thread's open batch pipeline, or None."""
        return getattr(self._local, "batch", None)

    def _flush(self) -> None:
        pipe = self._local.batch
        if len(pipe):
            self._execute(pipe)

    def _execute(self, pipe: Any) -> list[Any]:
        """``pipe.execute()``, then what the writes queued to do with their reads' answers (``_then``)."""
        # Taken before sending: a send that fails leaves no callback to misread a later send's answers.
        then: list[tuple[int, Callable[[Any], None]]] = getattr(pipe, "interlock_then", [])
        pipe.interlock_then = []
        results: list[Any] = pipe.execute()
        for index, callback in then:
            callback(results[index])
        return results

    def _then(self, pipe: Any, key: str, callback: Callable[[str | None], None]) -> None:
        """Queue ``GET key`` on ``pipe``; ``callback(value)`` runs once ``pipe`` has been sent (no extra round trip)."""
        pipe.get(key)
        if not hasattr(pipe, "interlock_then"):
            pipe.interlock_then = []
        pipe.interlock_then.append((len(pipe) - 1, callback))

    def _read_after_writes(self, command: Any) -> Any:
        """``command(client)``: with writes queued in this thread's batch, sent with them in one round trip."""
        batch = self._batch()
        if batch is not None and len(batch):
            command(batch)
            return self._execute(batch)[-1]
        return command(self._client)

    def _w(self) -> Any:
        """Where a single write goes: the open batch, else the client."""
        batch = self._batch()
        return batch if batch is not None else self._client

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """A MULTI/EXEC for writes that go together: the open batch (already one), else a pipeline of its own."""
        batch = self._batch()
        if batch is not None:
            yield batch
            return
        with self._client.pipeline(transaction=True) as p:
            yield p
            self._execute(p)

    def k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def ping(self) -> None:
        self.r.ping()

    def close(self) -> None:
        self.r.close()

    @cached_property
    def _changes(self) -> str:
        return self.k("changes")

    def _change(self, pipe: Any, kind: base.ChangeKind, data: str) -> None:
        """Queue the change-stream entry for ``data`` on ``pipe`` (inside the same MULTI/EXEC)."""
        pipe.xadd(self._changes, {"kind": kind.value, "data": data}, maxlen=self.change_cap, approximate=True)

    def _run_ttl_ms(self, status: model.RunStatus) -> int:
        ttl = self.retention if status in model.TERMINAL_RUN_STATUSES else self.retention + ACTIVE_RUN_GRACE
        return int(ttl.total_seconds() * 1000)

    def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        batch = self._batch()
        if batch is not None and len(batch):
            self._queue_script(batch, name, keys, args)
            return self._execute(batch)[-1]
        return self._scripts[name](keys=keys, args=args, client=self._client)

    def _queue_script(self, batch: Any, name: str, keys: list[str], args: list[Any]) -> None:
        # EVAL with the text, not EVALSHA: a script Redis does not know (after a restart) cannot fail
        # inside the MULTI; Redis caches it by its hash, so this costs the bytes only.
        batch.eval(self._scripts[name].script, len(keys), *keys, *args)

    # -- pipelines --------------------------------------------------------------------------------

    def register_pipeline(self, config: model.PipelineConfig) -> None:
        self.register_pipeline_files([(config, None)])

    def register_pipeline_files(self, files: Sequence[tuple[model.PipelineConfig, str | None]]) -> None:
        # Four round trips for any number of files: the old configs (their upstreams), one MULTI/EXEC
        # writing every config and reading its status row, and the status rows' index scripts.
        files = list({config.name: (config, digest) for config, digest in files}.values())
        if not files:
            return
        keys = [self.k("pipeline", config.name) for config, _ in files]
        olds = cast(list[str | None], self.r.mget(keys))
        now = self.clock.now()
        with self.r.pipeline(transaction=True) as p:
            for (config, digest), key, raw in zip(files, keys, olds, strict=True):
                old = decode(key, raw, model.PipelineConfig)
                before = set(old.upstreams()) if old else set()
                after = set(config.upstreams())
                # What was given, as given: defaults stay defaults when the model grows new ones.
                p.set(key, json.dumps(config.to_json(), separators=(",", ":")))
                p.set(self.k("registered", config.name), now.isoformat(), nx=True)
                p.sadd(self.k("pipelines"), config.name)
                p.zadd(self.k("names"), {config.name: 0})
                if digest is None:
                    p.hdel(self.k("pipeline-digests"), config.name)
                else:
                    p.hset(self.k("pipeline-digests"), config.name, digest)
                for upstream in before - after:
                    p.srem(self.k("deps", upstream), config.name)
                for upstream in after:
                    p.sadd(self.k("deps", upstream), config.name)
            for config, _ in files:
                p.get(self.k("status", config.name))
            rows = p.execute()[-len(files):]
        self._reindex_many([(config.name, raw, partial(after_register, config=config, now=now))
                            for (config, _), raw in zip(files, rows, strict=True)])

    def get_pipeline(self, name: str) -> model.PipelineConfig:
        key = self.k("pipeline", name)
        found = decode(key, cast(str | None, self._read_after_writes(lambda c: c.get(key))), model.PipelineConfig)
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

    def list_pipelines(self) -> list[model.PipelineConfig]:
        names = sorted(cast(set[str], self.r.smembers(self.k("pipelines"))))
        keys = [self.k("pipeline", n) for n in names]
        values = cast(list[str | None], self.r.mget(keys)) if keys else []
        return [c for c in (decode(k, v, model.PipelineConfig) for k, v in zip(keys, values, strict=True)) if c]

    def delete_pipeline(self, name: str) -> None:
        key = self.k("pipeline", name)
        old = decode(key, cast(str | None, self.r.get(key)), model.PipelineConfig)
        with self.r.pipeline(transaction=True) as p:
            for upstream in old.upstreams() if old else []:
                p.srem(self.k("deps", upstream), name)
            p.delete(key)
            p.srem(self.k("pipelines"), name)
            p.delete(self.k("status", name))
            p.zrem(self.k("names"), name)
            for state in STATES:
                p.zrem(self.k("state", state), name)
                p.zrem(self.k("statesince", state), name)
            p.hdel(self.k("pipeline-digests"), name)
            p.execute()

    def pipeline_digests(self, names: list[str] | None = None) -> dict[str, str]:
        if names is None:
            return cast(dict[str, str], self.r.hgetall(self.k("pipeline-digests")))
        values = cast(list[str | None], self.r.hmget(self.k("pipeline-digests"), names)) if names else []
        return {n: v for n, v in zip(names, values, strict=True) if v is not None}

    # -- the operator-state index (interlock.store.status) -----------------------------------------
    # status:<name> holds the row; names (all pipelines) and state:<s> are sorted sets of names with
    # score 0 (ZRANGEBYLEX pages them by name); statesince:<s> scores the same names by ``since`` (ms).

    def _status_row(self, name: str, raw: str | None) -> PipelineStatus | None:
        return PipelineStatus.load(self.k("status", name), name, raw)

    def _reindex(self, name: str, raw: str | None,
                 change: Callable[[PipelineStatus | None], PipelineStatus | None]) -> None:
        """Apply ``change`` to the state index when it changes the row ``raw`` (read with the write).

        One round trip: a script writes the row if it is still ``raw``; if another write changed it
        since, the optimistic loop of :meth:`_update_status` reads it again.
        """
        self._reindex_many([(name, raw, change)])

    def _reindex_many(self, rows: list[tuple[str, str | None, Callable[[PipelineStatus | None],
                                                                       PipelineStatus | None]]]) -> None:
        """:meth:`_reindex` for many rows: their scripts sent in one round trip (two for more than one)."""
        calls = []
        for name, raw, change in rows:
            old = self._status_row(name, raw)
            new = change(old)
            if new is None:
                continue
            was = old.state if old is not None else new.state
            keys = [self.k("status", name), self.k("pipeline", name), self.k("state", was),
                    self.k("statesince", was), self.k("state", new.state), self.k("statesince", new.state)]
            args: list[str | int] = [raw or "", new.dump(), name, _ms(new.since) if new.since else 0,
                    "1" if old is not None and old.state != new.state else "0"]
            calls.append((name, change, keys, args))
        if not calls:
            return
        script = self._scripts["index_status"]
        if len(calls) == 1:  # the hot path (a verdict, a run): EVALSHA, no pipeline's SCRIPT EXISTS
            _, _, keys, args = calls[0]
            written = [script(keys=keys, args=args, client=self._client)]
        else:
            with self._client.pipeline(transaction=False) as p:
                for _, _, keys, args in calls:
                    script(keys=keys, args=args, client=p)
                written = p.execute()
        for (name, change, _, _), done in zip(calls, written, strict=True):
            if not int(done):
                self._update_status(name, change)

    def _update_status(self, name: str, change: Callable[[PipelineStatus | None], PipelineStatus | None]) -> None:
        """Apply ``change`` to the row of ``name`` (a registered pipeline) and its index entries, atomically.

        Optimistic: WATCH the row and the pipeline's config; a concurrent write of either retries.
        """
        key, config = self.k("status", name), self.k("pipeline", name)
        with self.r.pipeline(transaction=True) as p:
            while True:
                try:
                    p.watch(key, config)  # type: ignore[no-untyped-call]
                    if not p.exists(config):
                        return  # only registered pipelines are indexed
                    old = self._status_row(name, cast(str | None, p.get(key)))
                    new = change(old)
                    if new is None:
                        return
                    p.multi()
                    p.set(key, new.dump())
                    if old is not None and old.state != new.state:
                        p.zrem(self.k("state", old.state), name)
                        p.zrem(self.k("statesince", old.state), name)
                    p.zadd(self.k("state", new.state), {name: 0})
                    p.zadd(self.k("statesince", new.state), {name: _ms(new.since) if new.since else 0})
                    p.execute()
                    return
                except redis.WatchError:
                    continue

    def _ensure_names(self) -> None:
        """Index pipelines registered before the index existed (once: afterwards the counts agree)."""
        with self.r.pipeline(transaction=False) as p:
            p.scard(self.k("pipelines"))
            p.zcard(self.k("names"))
            registered, indexed = p.execute()
        if registered == indexed:
            return
        members = cast(set[str], self.r.smembers(self.k("pipelines")))
        listed = set(cast(list[str], self.r.zrange(self.k("names"), 0, -1)))
        with self.r.pipeline(transaction=False) as p:
            if members - listed:
                p.zadd(self.k("names"), dict.fromkeys(members - listed, 0))
            if listed - members:
                p.zrem(self.k("names"), *(listed - members))
            p.execute()
        now = self.clock.now()
        for name in sorted(members - listed):
            self._update_status(name, _waiting_unless_indexed(name, now))

    def state_counts(self) -> dict[str, int]:
        self._ensure_names()
        with self.r.pipeline(transaction=False) as p:
            for state in STATES:
                p.zcard(self.k("state", state))
            return {state: int(n) for state, n in zip(STATES, p.execute(), strict=True)}

    def _names_after(self, index: str, after: str, limit: int, contains: str) -> list[str]:
        found: list[str] = []
        low = f"({after}" if after else "-"
        chunk = limit if not contains else max(limit, STATUS_SCAN_CHUNK)
        while len(found) < limit:
            names = cast(list[str], self.r.zrangebylex(index, low, "+", start=0, num=chunk))
            found += [n for n in names if contains in n]
            if len(names) < chunk:
                break
            low = f"({names[-1]}"
        return found[:limit]

    def _rows(self, names: list[str]) -> list[PipelineStatus]:
        keys = [self.k("status", n) for n in names]
        values = cast(list[str | None], self.r.mget(keys)) if keys else []
        return [self._status_row(n, v) or PipelineStatus.unindexed(n) for n, v in zip(names, values, strict=True)]

    def list_statuses(self, states: Collection[str] = (), after: str = "", limit: int = 100,
                      contains: str = "") -> list[PipelineStatus]:
        if limit <= 0:
            return []
        self._ensure_names()
        indexes = [self.k("state", s) for s in sorted(set(states))] or [self.k("names")]
        names = sorted({n for index in indexes for n in self._names_after(index, after, limit, contains)})
        return self._rows(names[:limit])

    def oldest_in_state(self, state: str, limit: int, before: datetime | None = None) -> list[PipelineStatus]:
        if limit <= 0:
            return []
        names = cast(list[str], self.r.zrangebyscore(self.k("statesince", state), "-inf",
                                                     _ms(before) if before else "+inf", start=0, num=limit))
        return self._rows(names)

    def list_dependents(self, upstream: str) -> list[str]:
        return sorted(cast(set[str], self._read_after_writes(lambda c: c.smembers(self.k("deps", upstream)))))

    # -- traits, readiness, sensors ---------------------------------------------------------------

    def _trait_hash(self, pipeline: str, source: base.TraitSource) -> str:
        return self.k("pushed" if source is base.TraitSource.PUSH else "traits", pipeline)

    def put_trait(self, evaluation: model.TraitEvaluation, ttl: int,
                  source: base.TraitSource = base.TraitSource.EVALUATOR) -> None:
        if ttl > 0:
            evaluation = evaluation.model_copy(update={"expires_at": evaluation.evaluated_at + timedelta(seconds=ttl)})
        else:
            evaluation = evaluation.model_copy(update={"expires_at": None})
        evaluation = evaluation.model_copy(update={"source": source.value})
        key = self._trait_hash(evaluation.pipeline_id, source)
        with self._tx() as p:
            p.hset(key, evaluation.trait_type, dump(evaluation))
            p.expire(key, int(self.retention.total_seconds()))

    def _fresh(self, evaluation: model.TraitEvaluation | None) -> model.TraitEvaluation | None:
        return base.fresh(evaluation, self.clock.now())

    def get_trait(
        self, pipeline: str, trait_type: str, source: base.TraitSource = base.TraitSource.EVALUATOR
    ) -> model.TraitEvaluation | None:
        key = self._trait_hash(pipeline, source)
        raw = cast(str | None, self.r.hget(key, trait_type))
        return self._fresh(decode(f"{key}[{trait_type}]", raw, model.TraitEvaluation))

    def get_traits(self, pipeline: str,
                   source: base.TraitSource = base.TraitSource.EVALUATOR) -> list[model.TraitEvaluation]:
        key = self._trait_hash(pipeline, source)
        found = []
        for field, raw in sorted(cast(dict[str, str], self.r.hgetall(key)).items()):
            evaluation = self._fresh(decode(f"{key}[{field}]", raw, model.TraitEvaluation))
            if evaluation:
                found.append(evaluation)
        return found

    def put_readiness(self, result: model.ReadinessResult, ttl: int) -> None:
        with self._tx() as p:
            p.set(self.k("readiness", result.pipeline_id), dump(result), ex=max(1, ttl))
            # Most verdicts change no state: the row is read in the same round trip, written only on a change.
            self._then(p, self.k("status", result.pipeline_id), lambda raw: self._reindex(
                result.pipeline_id, raw, lambda old: after_readiness(old, result, self.clock.now())))

    def get_readiness(self, pipeline: str) -> model.ReadinessResult | None:
        key = self.k("readiness", pipeline)
        return decode(key, cast(str | None, self.r.get(key)), model.ReadinessResult)

    def put_sensor(self, reading: base.SensorReading) -> None:
        self.r.set(self.k("sensor", reading.pipeline_id, reading.sensor_type), reading.dump())

    def get_sensor(self, pipeline: str, sensor_type: str) -> base.SensorReading | None:
        key = self.k("sensor", pipeline, sensor_type)
        return base.SensorReading.load(key, cast(str | None, self.r.get(key)))

    # -- runs -------------------------------------------------------------------------------------

    def put_run(self, run: model.RunState) -> None:
        data = dump(run)
        with self._tx() as p:
            p.set(self.k("run", run.run_id), data, px=self._run_ttl_ms(run.status))
            index = self.k("runs", run.pipeline_id)
            p.zadd(index, {run.run_id: _ms(run.created_at)})
            p.zremrangebyrank(index, 0, -(self.run_index_limit + 1))
            self._change(p, base.ChangeKind.RUN, data)

    def get_run(self, run_id: str) -> model.RunState:
        key = self.k("run", run_id)
        found = decode(key, cast(str | None, self.r.get(key)), model.RunState)
        if found is None:
            raise UnknownRun(run_id)
        return found

    def list_runs(self, pipeline: str, limit: int = base.DEFAULT_RUNS_LIMIT) -> list[model.RunState]:
        limit = limit if limit > 0 else base.DEFAULT_RUNS_LIMIT
        ids = cast(list[str], self.r.zrevrange(self.k("runs", pipeline), 0, limit - 1))
        return self._many([self.k("run", i) for i in ids], model.RunState)

    def _many(self, keys: list[str], model: type[M]) -> list[M]:
        """MGET ``keys`` in one round trip; missing and corrupt values are skipped."""
        if not keys:
            return []
        values = cast(list[str | None], self.r.mget(keys))
        return [m for m in (decode(k, v, model) for k, v in zip(keys, values, strict=True)) if m]

    def cas_run(self, run_id: str, expected_version: int, new: model.RunState) -> bool:
        if new.version != expected_version + 1:
            raise ValueError(f"new version must be {expected_version + 1}, got {new.version}")
        if new.run_id != run_id:
            raise ValueError(f"run id mismatch: {new.run_id!r} != {run_id!r}")
        won = self._script("cas_run", [self.k("run", run_id), self._changes],
                           [expected_version, dump(new), self._run_ttl_ms(new.status), self.change_cap])
        return bool(won)

    def claim(self, key: str, run: model.RunState, epoch: str | None = None) -> tuple[model.RunState, bool]:
        won, owner = self._script(
            "claim",
            [self.k("claim", key), self.k("run", run.run_id), self.k("runs", run.pipeline_id), self._changes,
             self.k("epoch")],
            [run.run_id, dump(run), int(self.retention.total_seconds() * 1000), self._run_ttl_ms(run.status),
             _ms(run.created_at), self.run_index_limit, self.change_cap, epoch or ""],
        )
        if int(won) < 0:
            raise base.EpochChanged(epoch or "", str(owner) or None)
        if int(won):
            return run, True
        return self.get_run(str(owner)), False

    def confirm_claim(self, key: str, run: model.RunState) -> bool:
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

    def _claim_replicated(self, run: model.RunState) -> bool:
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

    def put_run_log(self, entry: model.RunLogEntry) -> None:
        entry = entry.model_copy(update={"schedule_id": entry.schedule_id or model.DEFAULT_SCHEDULE})
        data = dump(entry)
        index = self.k("runlogs", entry.pipeline_id)
        with self._tx() as p:
            p.set(self.k("runlog", entry.pipeline_id, entry.date, entry.schedule_id), data,
                  ex=int(self.retention.total_seconds()))
            p.zadd(index, {f"{entry.date}:{entry.schedule_id}": int(entry.started_at.timestamp())})
            p.zremrangebyrank(index, 0, -(RUN_LOG_INDEX_LIMIT + 1))
            self._change(p, base.ChangeKind.RUN_LOG, data)
            self._then(p, self.k("status", entry.pipeline_id), lambda raw: self._reindex(
                entry.pipeline_id, raw, lambda old: after_run_log(old, entry, self.clock.now())))

    def get_run_log(self, pipeline: str, date: str, schedule: str = model.DEFAULT_SCHEDULE) -> model.RunLogEntry | None:
        key = self.k("runlog", pipeline, date, schedule or model.DEFAULT_SCHEDULE)
        return decode(key, cast(str | None, self._read_after_writes(lambda c: c.get(key))), model.RunLogEntry)

    def list_run_logs(self, pipeline: str, limit: int = base.DEFAULT_RUN_LOGS_LIMIT) -> list[model.RunLogEntry]:
        limit = limit if limit > 0 else base.DEFAULT_RUN_LOGS_LIMIT
        members = cast(list[str], self.r.zrevrange(self.k("runlogs", pipeline), 0, limit - 1))
        keys = []
        for member in members:
            date, _, schedule = member.rpartition(":")
            keys.append(self.k("runlog", pipeline, date, schedule) if date else self.k("runlog", pipeline, member,
                                                                                       model.DEFAULT_SCHEDULE))
        return self._many(keys, model.RunLogEntry)

    # -- events -----------------------------------------------------------------------------------

    def append_event(self, event: model.Event) -> str:
        keys = [self.k("events", event.pipeline_id), self.k("g", "events"), self._changes]
        args = [event.kind.value, dump(event), self.event_stream_max, int(self.retention.total_seconds() * 1000),
                GLOBAL_EVENT_STREAM_MAX, self.change_cap]
        batch = self._batch()
        if batch is not None:
            self._queue_script(batch, "append_event", keys, args)
            return ""
        return str(self._script("append_event", keys, args))

    def _records(self, key: str, entries: Iterable[tuple[str, dict[str, str]]]) -> list[base.EventRecord]:
        records = []
        for stream_id, fields in entries:
            event = decode(f"{key}#{stream_id}", fields.get("data"), model.Event)
            if event is not None:
                records.append(base.EventRecord(fields.get("ref", stream_id), event))
        return records

    def list_events(self, pipeline: str, limit: int = base.DEFAULT_EVENTS_LIMIT) -> list[base.EventRecord]:
        limit = limit if limit > 0 else base.DEFAULT_EVENTS_LIMIT
        key = self.k("events", pipeline)
        entries = cast(list[tuple[str, dict[str, str]]], self.r.xrevrange(key, "+", "-", count=limit))
        return self._records(key, reversed(entries))

    def _read(self, key: str, after: str, count: int) -> list[base.EventRecord]:
        count = count if count > 0 else base.DEFAULT_READ_COUNT
        start = f"({after}" if after and after != "0-0" else "-"
        entries = cast(list[tuple[str, dict[str, str]]], self.r.xrange(key, start, "+", count=count))
        return self._records(key, entries)

    def read_events(self, pipeline: str, after: str = "",
                    count: int = base.DEFAULT_READ_COUNT) -> list[base.EventRecord]:
        return self._read(self.k("events", pipeline), after, count)

    def read_all_events(self, after: str = "", count: int = base.DEFAULT_READ_COUNT) -> list[base.EventRecord]:
        # The global stream's own ids are the cursor here; records carry the per-pipeline id.
        key = self.k("g", "events")
        count = count if count > 0 else base.DEFAULT_READ_COUNT
        start = f"({after}" if after and after != "0-0" else "-"
        entries = cast(list[tuple[str, dict[str, str]]], self.r.xrange(key, start, "+", count=count))
        records = []
        for stream_id, fields in entries:
            event = decode(f"{key}#{stream_id}", fields.get("data"), model.Event)
            if event is not None:
                records.append(base.EventRecord(stream_id, event))
        return records

    # -- reruns and alerts ------------------------------------------------------------------------

    def put_rerun(self, record: model.RerunRecord) -> None:
        data = dump(record)
        score = int(record.requested_at.timestamp())
        with self.r.pipeline(transaction=True) as p:
            p.set(self.k("rerun", record.rerun_id), data, px=self._run_ttl_ms(record.status))
            for index, limit in ((self.k("reruns", record.pipeline_id), RERUN_INDEX_LIMIT),
                                 (self.k("g", "reruns"), GLOBAL_RERUN_INDEX_LIMIT)):
                p.zadd(index, {record.rerun_id: score})
                p.zremrangebyrank(index, 0, -(limit + 1))
            self._change(p, base.ChangeKind.RERUN, data)
            p.execute()

    def get_rerun(self, rerun_id: str) -> model.RerunRecord | None:
        key = self.k("rerun", rerun_id)
        return decode(key, cast(str | None, self.r.get(key)), model.RerunRecord)

    def list_reruns(self, pipeline: str, limit: int = base.DEFAULT_RERUNS_LIMIT) -> list[model.RerunRecord]:
        limit = limit if limit > 0 else base.DEFAULT_RERUNS_LIMIT
        ids = cast(list[str], self.r.zrevrange(self.k("reruns", pipeline), 0, limit - 1))
        return self._many([self.k("rerun", i) for i in ids], model.RerunRecord)

    def list_all_reruns(self, limit: int = base.DEFAULT_ALL_RERUNS_LIMIT) -> list[model.RerunRecord]:
        limit = limit if limit > 0 else base.DEFAULT_ALL_RERUNS_LIMIT
        ids = cast(list[str], self.r.zrevrange(self.k("g", "reruns"), 0, limit - 1))
        return self._many([self.k("rerun", i) for i in ids], model.RerunRecord)

    def put_alert(self, alert: model.Alert, outbox: base.OutboxEntry | None = None) -> model.Alert:
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
            self._change(p, base.ChangeKind.ALERT, data)
            if outbox is not None:  # in the same MULTI/EXEC: an alert is never stored without its delivery
                p.set(self.k("value", outbox.key), outbox.value, px=max(1, int(outbox.ttl * 1000)))
                p.zadd(self.k("due"), {outbox.due_key: _ms(outbox.due_at)})
            p.execute()
        return alert

    def record_delivery(self, delivery: model.AlertDelivery) -> None:
        data = dump(delivery)
        score = _ms(delivery.at)
        expired = score - int(self.retention.total_seconds() * 1000)
        with self.r.pipeline(transaction=False) as p:
            for index in [self.k("g", "deliveries")] + ([] if delivery.ok else [self.k("g", "deliveries", "failed")]):
                p.zadd(index, {data: score})
                p.zremrangebyrank(index, 0, -(base.DELIVERY_INDEX_LIMIT + 1))
                p.zremrangebyscore(index, "-inf", f"({expired}")
            p.execute()

    def list_deliveries(self, limit: int = base.DEFAULT_DELIVERIES_LIMIT,
                        failed: bool = False) -> list[model.AlertDelivery]:
        limit = limit if limit > 0 else base.DEFAULT_DELIVERIES_LIMIT
        key = self.k("g", "deliveries", "failed") if failed else self.k("g", "deliveries")
        members = cast(list[str], self.r.zrevrange(key, 0, limit - 1))
        return [d for d in (decode(key, m, model.AlertDelivery) for m in members) if d]

    def _alerts(self, key: str, limit: int) -> list[model.Alert]:
        limit = limit if limit > 0 else base.DEFAULT_ALERTS_LIMIT
        members = cast(list[str], self.r.zrevrange(key, 0, limit - 1))
        return [a for a in (decode(key, m, model.Alert) for m in members) if a]

    def list_alerts(self, pipeline: str, limit: int = base.DEFAULT_ALERTS_LIMIT) -> list[model.Alert]:
        return self._alerts(self.k("alerts", pipeline), limit)

    def list_all_alerts(self, limit: int = base.DEFAULT_ALERTS_LIMIT) -> list[model.Alert]:
        return self._alerts(self.k("g", "alerts"), limit)

    # -- coordination -----------------------------------------------------------------------------

    def acquire_lock(self, key: str, ttl: float) -> base.Lock | None:
        if ttl <= 0:
            raise ValueError(f"lock TTL must be > 0 seconds, got {ttl}")
        token = self._script("acquire_lock", [self.k("lock", key), self.k("fence", key)],
                             [uuid.uuid4().hex, max(1, int(ttl * 1000))])
        if not token:
            return None
        return base.Lock(key, str(token), int(str(token).split(":", 1)[0]))

    def release_lock(self, lock: base.Lock) -> bool:
        batch = self._batch()
        if batch is not None:
            self._queue_script(batch, "release_lock", [self.k("lock", lock.key)], [lock.token])
            return True
        return bool(self._script("release_lock", [self.k("lock", lock.key)], [lock.token]))

    def extend_lock(self, lock: base.Lock, ttl: float) -> bool:
        if ttl <= 0:
            raise ValueError(f"lock TTL must be > 0 seconds, got {ttl}")
        return bool(self._script("extend_lock", [self.k("lock", lock.key)], [lock.token, max(1, int(ttl * 1000))]))

    def put_value(self, key: str, value: str, ttl: float | None = None) -> None:
        self._w().set(self.k("value", key), value, px=int(ttl * 1000) if ttl else None)

    def get_value(self, key: str) -> str | None:
        return cast(str | None, self._read_after_writes(lambda c: c.get(self.k("value", key))))

    def get_epoch(self) -> base.Epoch | None:
        key = self.k("epoch")
        try:
            fields = cast(dict[str, str], self.r.hgetall(key))
        except redis.ResponseError as exc:  # another type at the key: damaged, read as none (healed)
            log.warning("store: unreadable epoch at %s: %s", key, exc)
            return None
        return base.decode_epoch(key, fields) if fields.get("id") else None

    def swap_epoch(self, expected: str | None, new: base.Epoch) -> bool:
        if not new.id:
            raise ValueError("an epoch needs a non-empty id")
        fields = {"id": new.id, "createdAt": new.created_at.isoformat(), "previous": new.previous}
        if new.reset_at is not None:
            fields["resetAt"] = new.reset_at.isoformat()
        pairs = [part for item in fields.items() for part in item]
        return bool(self._script("swap_epoch", [self.k("epoch")], [expected or "", *pairs]))

    def count(self, amounts: dict[str, float]) -> None:
        batch = self._batch()
        if batch is not None:
            for name, amount in amounts.items():
                batch.hincrbyfloat(self.k("metrics"), name, amount)
            return
        with self._client.pipeline(transaction=False) as p:
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
        self._w().zadd(self.k("due"), {key: _ms(at)})

    def set_due_many(self, keys: list[str], at: datetime) -> None:
        if keys:
            self._w().zadd(self.k("due"), dict.fromkeys(keys, _ms(at)))

    def add_due_many(self, keys: list[str], at: datetime) -> int:
        added = 0
        for start in range(0, len(keys), DUE_CHUNK):
            chunk = dict.fromkeys(keys[start:start + DUE_CHUNK], _ms(at))
            added += cast(int, self.r.zadd(self.k("due"), chunk, nx=True))
        return added

    def clear_due(self, key: str, only_if_at: datetime | None = None) -> bool:
        if only_if_at is None:
            batch = self._batch()
            if batch is not None:
                batch.zrem(self.k("due"), key)
                return True
            return bool(self._client.zrem(self.k("due"), key))
        return bool(self._script("clear_due", [self.k("due")], [key, _ms(only_if_at)]))

    def due(self, now: datetime, limit: int = 1000) -> list[base.DueItem]:
        rows = cast(list[tuple[str, float]],
                    self.r.zrangebyscore(self.k("due"), "-inf", _ms(now), start=0, num=limit, withscores=True))
        return [base.DueItem(key, datetime.fromtimestamp(score / 1000, UTC)) for key, score in rows]

    def due_at(self, key: str) -> datetime | None:
        score = self.r.zscore(self.k("due"), key)
        return None if score is None else datetime.fromtimestamp(score / 1000, UTC)

    def breaker(self, key: str, op: base.BreakerOp, now: datetime, policy: base.BreakerPolicy) -> tuple[bool, str]:
        answer = str(self._script("breaker", [self.k("breaker", key)], [
            op.value, _ms(now), policy.threshold, int(policy.window * 1000), int(policy.cooldown * 1000),
            int(max(policy.window, policy.cooldown) * 1000) + 86_400_000,
        ]))
        flag, _, state = answer.rpartition(":")
        if op is base.BreakerOp.FAILURE:
            return flag == "tripped", state
        return flag != "deny", state

    # -- archive feed -----------------------------------------------------------------------------

    def read_changes(self, after: str = "", count: int = 500) -> list[base.Change]:
        start = f"({after}" if after and after != "0-0" else "-"
        entries = cast(list[tuple[str, dict[str, str]]], self.r.xrange(self._changes, start, "+", count=count))
        changes = []
        for change_id, fields in entries:
            try:
                kind = base.ChangeKind(fields.get("kind", ""))
                data = json.loads(fields["data"])
                if not isinstance(data, dict):
                    raise ValueError("not an object")
            except (ValueError, KeyError) as exc:
                log.warning("store: skipping corrupt change %s#%s: %s", self._changes, change_id, exc)
                # Still yielded, so a reader's cursor moves past it.
                changes.append(base.Change(change_id, base.ChangeKind.UNREADABLE, {}))
                continue
            changes.append(base.Change(change_id, kind, data, fields.get("ref", "")))
        return changes

    def trim_changes(self, upto: str) -> int:
        """Drop change-stream entries up to and including cursor ``upto`` (already archived)."""
        ms, _, seq = upto.partition("-")
        # XTRIM MINID keeps ids >= minid, so keep from the id right after ``upto``.
        return int(self.r.xtrim(self._changes, minid=f"{ms}-{int(seq or 0) + 1}", approximate=False))

    def change_backlog(self) -> int:
        return int(self.r.xlen(self._changes))

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
            "clear_due", "breaker", "swap_epoch", "index_status")



def _waiting_unless_indexed(name: str, now: datetime) -> Callable[[PipelineStatus | None], PipelineStatus | None]:
    return lambda old: None if old else PipelineStatus(name, "waiting", now)


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

