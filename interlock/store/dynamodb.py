"""The DynamoDB state store (the AWS mode): one table, conditional writes, a sharded gap-free change feed.

Every compare-and-swap is one conditional write or transaction; expiry is checked on read against the
store's clock; every archived write takes the next change number of its pipeline's feed shard in the same
transaction as the record, and the archive reads the shards merged, from a cursor holding one position per
shard.
The key layout and why it is shaped this way: docs/stores.md, "DynamoDB".
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import logging
import math
import random
import time
import uuid
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from interlock import model
from interlock.clock import SYSTEM, Clock
from interlock.errors import ClaimLost, UnknownPipeline, UnknownRun
from interlock.store import base
from interlock.store.codec import M, decode, dump
from interlock.store.status import STATES, PipelineStatus, after_readiness, after_register, after_run_log

log = logging.getLogger(__name__)

Item = dict[str, Any]  # a DynamoDB item in the low-level wire form: {"attr": {"S": "..."}}

# Entries kept in the run-log and rerun indexes (newest first), as in the Redis store.
RUN_LOG_INDEX_LIMIT = 100
RERUN_INDEX_LIMIT = 100
GLOBAL_RERUN_INDEX_LIMIT = 500
# Non-terminal runs outlive terminal ones by this much, so a stuck run is still there to report.
ACTIVE_RUN_GRACE = timedelta(hours=24)
# How long an un-archived change is kept. Only bounds storage when no archiver runs, so it must be far
# above what an archiver can lag behind.
CHANGE_RETENTION = timedelta(days=30)
# How long a lock item (and with it the fencing counter) outlives its last expiry. After this the fence
# restarts at 1; a holder that stale is long gone.
LOCK_FENCE_KEEP = timedelta(days=30)
# Attempts at taking the next change number before giving up (each retry means another writer committed).
SEQ_ATTEMPTS = 200
# Shards of the change feed (and of the global event list): each has its own counter and partition, and a
# pipeline always writes to the same one. 256 keeps each shard's counter far below what one item can take
# at 50 000 pipelines (the arithmetic: README, "The change feed at scale"). Fixed for a table's lifetime.
CHANGE_SHARDS = 256
# Threads that read the shards' first pages at once when the archive (or the global event list) is read.
READ_THREADS = 16
# Attempts at an optimistic read-modify-write (index moves, breaker) before giving up.
RMW_ATTEMPTS = 50
# DynamoDB request limits: items per transaction, keys per BatchGetItem, requests per BatchWriteItem.
MAX_TRANSACT_ITEMS = 100
MAX_BATCH_GET = 100
MAX_BATCH_WRITE = 25

_CONDITION_FAILED = "ConditionalCheckFailed"


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _ms13(at: datetime) -> str:
    return f"{max(0, _ms(at)):013d}"


def _seq20(seq: int) -> str:
    return f"{seq:020d}"


def S(value: str) -> dict[str, str]:
    """A DynamoDB string attribute value."""
    return {"S": value}


def N(value: float) -> dict[str, str]:
    """A DynamoDB number attribute value."""
    return {"N": str(value)}


def _s(item: Item, name: str, default: str = "") -> str:
    value = item.get(name, {}).get("S")
    return value if isinstance(value, str) else default


def _n(item: Item, name: str, default: float = 0) -> float:
    raw = item.get(name, {}).get("N")
    try:
        return float(raw) if raw is not None else default
    except ValueError:
        return default


def _key(pk: str, sk: str) -> Item:
    return {"PK": S(pk), "SK": S(sk)}


# -- the key layout readers of the table and its stream rely on (lambdas/stream_router.py) ----------

PIPELINE_PK_PREFIX = "PIPELINE#"
TRAIT_SK_PREFIX = "TRAIT#"  # a trait result an evaluator produced
PUSHED_SK_PREFIX = "PUSHED#"  # a pushed trait result: the edge-triggered fast path
RUNLOG_SK_PREFIX = "RUNLOG#"
# The reference's markers, ``PIPELINE#<p> / MARKER#<source>#<timestamp>`` (optional ``scheduleID``):
# producers write them to the table directly; the store never does, the stream router acts on them.
MARKER_SK_PREFIX = "MARKER#"


def pipeline_pk(name: str) -> str:
    """The partition key of everything stored per pipeline."""
    return f"{PIPELINE_PK_PREFIX}{name}"


def pipeline_of(pk: str) -> str | None:
    """The pipeline a per-pipeline partition key names; None for any other partition."""
    return pk[len(PIPELINE_PK_PREFIX):] if pk.startswith(PIPELINE_PK_PREFIX) else None


def trait_sk(trait_type: str, source: base.TraitSource) -> str:
    """The sort key of a trait result: pushed and evaluated results are separate items."""
    return f"{PUSHED_SK_PREFIX if source is base.TraitSource.PUSH else TRAIT_SK_PREFIX}{trait_type}"


def run_log_sk(date: str, schedule: str) -> str:
    """The sort key of the run log of one (period, schedule)."""
    return f"{RUNLOG_SK_PREFIX}{date}#{schedule}"


def _expiry(at_ms: int) -> Item:
    """``exp`` (exact, ms, checked on read) and ``ttl`` (epoch s, rounded up, for DynamoDB's sweeper)."""
    return {"exp": N(at_ms), "ttl": N(math.ceil(at_ms / 1000))}


def change_shard(pipeline: str, shards: int) -> int:
    """The feed shard of a pipeline's archived writes (alerts without a pipeline: that of "")."""
    return zlib.crc32(pipeline.encode()) % shards


def seq_pk(shard: int) -> str:
    """The partition of a feed shard's counter."""
    return f"SEQ#{shard:03d}"


def changes_pk(shard: int) -> str:
    """The partition of a feed shard's changes."""
    return f"CHANGES#{shard:03d}"


def events_pk(shard: int) -> str:
    """The partition of a feed shard's copies of events (the global event list)."""
    return f"INDEX#events#{shard:03d}"


def parse_feed_cursor(cursor: str, shards: int) -> dict[int, int]:
    """The per-shard positions a feed cursor names: ``"3:17,200:5"`` = shard 3 after 17, shard 200 after 5.

    "" and "0-0" are before the first change. A bare number is a cursor of the single-counter feed
    this one replaced: its changes are not in the shards, so it reads every shard from the start.
    """
    if cursor in ("", "0-0") or cursor.isdigit():
        return {}
    positions: dict[int, int] = {}
    for part in cursor.split(","):
        shard, sep, seq = part.partition(":")
        if not sep or not shard.isdigit() or not seq.isdigit() or int(shard) >= shards or int(shard) in positions:
            raise ValueError(f"not a cursor of this store (shard:position, ... with shards < {shards}): {cursor!r}")
        positions[int(shard)] = int(seq)
    return positions


def format_feed_cursor(positions: dict[int, int]) -> str:
    """The cursor of per-shard positions (shards still at 0 left out)."""
    return ",".join(f"{k}:{n}" for k, n in sorted(positions.items()) if n > 0)



class _Cancelled(Exception):
    """A transaction was refused because a condition on one of *our* items failed (not the counter)."""

    def __init__(self, reasons: list[Item]) -> None:
        super().__init__("transaction cancelled")
        self.reasons = reasons

    def failed(self, index: int) -> Item | None:
        """The cancellation reason of item ``index`` if its condition failed, else None."""
        if index < len(self.reasons) and self.reasons[index].get("Code") == _CONDITION_FAILED:
            return self.reasons[index]
        return None


@dataclass(frozen=True)
class _Indexed:
    """A record plus the pointer items that list it; see :meth:`DynamoStore._put_indexed`."""

    key: tuple[str, str]
    item: Item
    indexes: list[tuple[str, str]]
    pipeline: str  # whose feed shard the change goes to


class DynamoStore:
    """:class:`~interlock.store.base.Store` on one DynamoDB table (boto3 low-level client, thread-safe)."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        retention: timedelta = timedelta(days=7),
        run_index_limit: int = 100,
        clock: Clock = SYSTEM,
        change_shards: int = CHANGE_SHARDS,
    ) -> None:
        if not 1 <= change_shards <= 999:
            raise ValueError(f"change_shards must be between 1 and 999, got {change_shards}")
        self.c = client
        self.table = table
        self.retention = retention
        self.run_index_limit = run_index_limit
        self.clock = clock
        self.change_shards = change_shards
        # Per shard, the last counter value this process saw and whether the counter exists: a guess that
        # saves a read per write when it is right.
        self._seq_hint: dict[int, tuple[int, bool]] = {}
        self._legacy_seq: int | None = None
        self._shards_checked = False
        # Per shard, the position up to which this process has trimmed the feed (skipped on the next trim).
        self._trimmed: dict[int, int] = {}

    # -- construction -----------------------------------------------------------------------------

    @classmethod
    def connect(cls, table: str, *, region: str | None = None, endpoint_url: str | None = None,
                clock: Clock = SYSTEM, **options: Any) -> DynamoStore:
        """Open ``table`` with a new boto3 client (credentials from the usual AWS chain)."""
        import boto3  # optional dependency (the ``aws`` extra): imported only when DynamoDB is used
        from botocore.config import Config

        client_keys = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
        creds = {k: options.pop(k) for k in client_keys if k in options}
        # Standard retry mode backs off on throttling and 5xx, which on-demand tables do return under bursts.
        config = Config(retries={"mode": "standard", "max_attempts": 8})
        client = boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url, config=config, **creds)
        return cls(client, table, clock=clock, **options)

    @classmethod
    def from_url(cls, url: str, clock: Clock = SYSTEM) -> DynamoStore:
        """Open ``dynamodb://TABLE?region=eu-west-1&endpoint_url=http://127.0.0.1:8000``."""
        parsed = urlparse(url)
        if parsed.scheme != "dynamodb" or not parsed.netloc:
            raise ValueError(f"not a DynamoDB store URL (dynamodb://TABLE?region=..): {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        return cls.connect(parsed.netloc, region=query.get("region"), endpoint_url=query.get("endpoint_url"),
                           clock=clock)

    @staticmethod
    def create_table(client: Any, name: str, *, stream: bool = True, wait: bool = True) -> None:
        """Create the table as Terraform declares it; an existing table only gets TTL switched on.

        On-demand billing, ``PK``/``SK`` (S), GSI1 (``GSI1PK``/``GSI1SK``, projection ALL), stream
        NEW_AND_OLD_IMAGES, TTL on ``ttl`` (the reference's development path had no stream and
        skipped TTL on an existing table). ``stream=False`` leaves the stream off, for a store nobody
        routes from (the store itself never reads the stream).

        Example::

            DynamoStore.create_table(boto3.client("dynamodb"), "interlock")
        """
        attrs = [{"AttributeName": a, "AttributeType": "S"} for a in ("PK", "SK", "GSI1PK", "GSI1SK")]
        streams: Item = {"StreamEnabled": stream}
        if stream:
            streams["StreamViewType"] = "NEW_AND_OLD_IMAGES"
        with contextlib.suppress(client.exceptions.ResourceInUseException):  # exists: still switch TTL on
            client.create_table(
                TableName=name,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=attrs,
                KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                GlobalSecondaryIndexes=[{
                    "IndexName": "GSI1",
                    "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"},
                                  {"AttributeName": "GSI1SK", "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "ALL"},
                }],
                StreamSpecification=streams,
            )
        if wait:
            client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        status = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]["TimeToLiveStatus"]
        if status in ("DISABLED", "DISABLING"):
            client.update_time_to_live(TableName=name,
                                       TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})

    def ping(self) -> None:
        self.c.describe_table(TableName=self.table)

    def close(self) -> None:
        self.c.close()

    # -- plumbing ---------------------------------------------------------------------------------

    @staticmethod
    def item_name(pk: str, sk: str) -> str:
        """How an item is named in log lines (e.g. ``PIPELINE#orders|CONFIG``)."""
        return f"{pk}|{sk}"

    def _now_ms(self) -> int:
        return _ms(self.clock.now())

    def _expired(self, item: Item, now_ms: int | None = None) -> bool:
        return "exp" in item and _n(item, "exp") <= (self._now_ms() if now_ms is None else now_ms)

    def _retention_ms(self) -> int:
        return int(self.retention.total_seconds() * 1000)

    def _run_expiry(self, status: model.RunStatus) -> Item:
        ttl = self.retention if status in model.TERMINAL_RUN_STATUSES else self.retention + ACTIVE_RUN_GRACE
        return _expiry(self._now_ms() + int(ttl.total_seconds() * 1000))

    def _decode_item(self, item: Item | None, model: type[M]) -> M | None:
        if item is None or self._expired(item):
            return None
        name = self.item_name(_s(item, "PK"), _s(item, "SK"))
        return decode(name, item.get("data", {}).get("S"), model)

    def _get(self, pk: str, sk: str) -> Item | None:
        found: Item | None = self.c.get_item(TableName=self.table, Key=_key(pk, sk), ConsistentRead=True).get("Item")
        return found

    def _get_data(self, pk: str, sk: str, model: type[M]) -> M | None:
        return self._decode_item(self._get(pk, sk), model)

    def _put(self, item: Item) -> None:
        self.c.put_item(TableName=self.table, Item=item)

    def _query(self, pk: str, *, prefix: str = "", low: str | None = None, high: str | None = None,
               descending: bool = False, page: int = 100, keys_only: bool = False) -> Iterator[Item]:
        """Items of partition ``pk`` in SK order (strongly consistent), following ``LastEvaluatedKey``.

        ``prefix`` restricts to ``begins_with(SK, prefix)``; ``low``/``high`` to ``low <= SK <= high``.
        """
        values: Item = {":pk": S(pk)}
        condition = "PK = :pk"
        if low is not None or high is not None:
            values[":lo"], values[":hi"] = S(low if low is not None else prefix), S(high or prefix + "\uffff")
            condition += " AND SK BETWEEN :lo AND :hi"
        elif prefix:
            values[":pre"] = S(prefix)
            condition += " AND begins_with(SK, :pre)"
        kwargs: Item = {"TableName": self.table, "KeyConditionExpression": condition,
                        "ExpressionAttributeValues": values, "ConsistentRead": True,
                        "ScanIndexForward": not descending, "Limit": max(1, min(page, 1000))}
        if keys_only:
            kwargs["ProjectionExpression"] = "PK, SK"
        while True:
            answer = self.c.query(**kwargs)
            yield from answer.get("Items", [])
            if not answer.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _batch_get(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Item]:
        """Fetch items by key (consistent reads), retrying what DynamoDB leaves unprocessed."""
        found: dict[tuple[str, str], Item] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), MAX_BATCH_GET):
            request: Item = {self.table: {"Keys": [_key(pk, sk) for pk, sk in unique[start:start + MAX_BATCH_GET]],
                                          "ConsistentRead": True}}
            attempt = 0
            while request:
                answer = self.c.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table, []):
                    found[(_s(item, "PK"), _s(item, "SK"))] = item
                request = answer.get("UnprocessedKeys") or {}
                attempt += 1
                if request:
                    _backoff(attempt)
        return found

    def _batch_write(self, requests: list[Item]) -> None:
        """Put/delete many items (not atomically), retrying what DynamoDB leaves unprocessed."""
        for start in range(0, len(requests), MAX_BATCH_WRITE):
            pending: Item = {self.table: requests[start:start + MAX_BATCH_WRITE]}
            attempt = 0
            while pending:
                pending = self.c.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                attempt += 1
                if pending:
                    _backoff(attempt)

    # -- transactions and the change feed ---------------------------------------------------------

    def _transact(self, items: list[Item]) -> None:
        """One TransactWriteItems; a failed condition on any item raises :class:`_Cancelled`.

        A cancellation only because another transaction was touching the same items (TransactionConflict)
        is retried; any other reason (validation, throughput) propagates as the original error.
        """
        for attempt in range(1, RMW_ATTEMPTS + 1):
            try:
                self.c.transact_write_items(TransactItems=items)
                return
            except self.c.exceptions.TransactionCanceledException as exc:
                reasons = list(exc.response.get("CancellationReasons", []))
                codes = {r.get("Code", "None") for r in reasons} - {"None"}
                if codes == {"TransactionConflict"}:
                    _backoff(attempt)
                    continue
                if not codes or not codes <= {_CONDITION_FAILED, "TransactionConflict"}:
                    raise
                raise _Cancelled(reasons) from exc
        raise RuntimeError(f"store: transaction kept conflicting; gave up after {RMW_ATTEMPTS} attempts")

    def _commit(self, build: Callable[[int], list[Item]], kind: base.ChangeKind, data: str, pipeline: str,
                ref_is_seq: bool = False) -> int:
        """Write ``build(seq)`` and change ``seq`` of ``pipeline``'s feed shard in one transaction.

        ``seq`` is the next number of the shard's counter (``SEQ#<shard>``), taken in the same transaction
        on the condition that the counter still holds ``seq - 1``, so a shard's changes commit in number
        order and a pipeline's (always in one shard) in commit order. ``ref_is_seq`` records ``seq`` as the
        change's ``ref`` (events: their cursor). Raises :class:`_Cancelled` when a condition of ``build``'s
        items fails.
        """
        self._check_shards()
        shard = change_shard(pipeline, self.change_shards)
        for attempt in range(1, SEQ_ATTEMPTS + 1):
            current, exists = self._seq_hint.get(shard) or self._read_seq(shard)
            seq = current + 1
            items = build(seq)
            mine = len(items)
            items.append({"Update": {
                "TableName": self.table, "Key": _key(seq_pk(shard), "SEQ"), "UpdateExpression": "SET n = :next",
                "ConditionExpression": "n = :cur" if exists else "attribute_not_exists(n)",
                "ExpressionAttributeValues": {":next": N(seq), **({":cur": N(current)} if exists else {})},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }})
            change: Item = {**_key(changes_pk(shard), f"CHANGE#{_seq20(seq)}"), "kind": S(kind.value),
                            "data": S(data), "at": N(time.time_ns() // 1000),
                            **_expiry(self._now_ms() + int(CHANGE_RETENTION.total_seconds() * 1000))}
            if ref_is_seq:
                change["ref"] = S(_seq20(seq))
            items.append({"Put": {"TableName": self.table, "Item": change}})
            try:
                self._transact(items)
            except _Cancelled as cancelled:
                if any(cancelled.failed(i) for i in range(mine)):
                    raise _Cancelled(cancelled.reasons[:mine]) from None
                counter = cancelled.failed(mine)
                if counter is None:  # a conflict mixed with a failed condition elsewhere: try again
                    _backoff(attempt)
                    continue
                # Someone else took ``seq``: learn the counter's value (returned with the failure, if any).
                old = counter.get("Item")
                self._seq_hint[shard] = (int(_n(old, "n")), True) if old else self._read_seq(shard)
                if attempt > 3:
                    _backoff(attempt - 3)
                continue
            self._seq_hint[shard] = (seq, True)
            return seq
        raise RuntimeError(f"store: could not take a change number in shard {shard} after {SEQ_ATTEMPTS} attempts "
                           "(contention)")

    def _read_seq(self, shard: int) -> tuple[int, bool]:
        """A shard counter's value and whether it exists; a new shard starts after the legacy counter."""
        item = self._get(seq_pk(shard), "SEQ")
        if item is not None:
            return int(_n(item, "n")), True
        if self._legacy_seq is None:
            # Tables written before the feed was sharded have one ``SEQ`` counter; starting every shard
            # after it keeps each pipeline's event numbers growing across the upgrade.
            legacy = self._get("SEQ", "SEQ")
            self._legacy_seq = int(_n(legacy, "n")) if legacy else 0
        return self._legacy_seq, False

    def _check_shards(self) -> None:
        """Record the shard count in the table on first use; refuse a store opened with another one.

        A pipeline's shard is its name's hash modulo the count, so two counts on one table would put a
        pipeline's changes (and event numbers) in two independently numbered shards.
        """
        if self._shards_checked:
            return
        item = {**_key("CHANGES", "SHARDS"), "n": N(self.change_shards)}
        try:
            self.c.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(PK)")
        except self.c.exceptions.ConditionalCheckFailedException:
            recorded = int(_n(self._get("CHANGES", "SHARDS") or {}, "n"))
            if recorded != self.change_shards:
                raise ValueError(f"table {self.table!r} keeps its change feed in {recorded} shards; this store was "
                                 f"opened with change_shards={self.change_shards} (the count is fixed for a table's "
                                 "lifetime)") from None
        self._shards_checked = True

    def _heads(self) -> dict[int, int]:
        """Every shard's counter (consistent reads): changes up to it have committed, none after it yet."""
        keys = [(seq_pk(k), "SEQ") for k in range(self.change_shards)]
        found = self._batch_get(keys)
        return {k: int(_n(found[key], "n")) for k, key in enumerate(keys) if key in found}

    def _merged(self, pk_of: Callable[[int], str], prefix: str, positions: dict[int, int],
                count: int) -> Iterator[tuple[int, int, Item]]:
        """Items ``prefix<seq20>`` of every shard after its position, as (shard, seq, item), merged.

        Each shard's items come in number order (so a pipeline's in commit order); across shards they
        are interleaved by commit time (``at``, the writer's clock). A shard is read only up to its
        counter, so what is returned has committed and nothing before it in its shard is still missing.
        """
        pending = [(k, positions.get(k, 0), head) for k, head in self._heads().items() if head > positions.get(k, 0)]
        if not pending:
            return

        def first_page(shard: tuple[int, int, int]) -> Iterator[tuple[int, int, int, Item]]:
            k, after, head = shard
            items = self._query(pk_of(k), low=f"{prefix}{_seq20(after + 1)}", high=f"{prefix}{_seq20(head)}",
                                page=min(count, head - after))
            # Fetch the first page now (on the pool), the rest lazily as the merge asks for it.
            head_items = _take(items, min(count, head - after))
            return itertools.chain(
                ((int(_n(i, "at")), k, int(_s(i, "SK")[len(prefix):]), i) for i in head_items),
                ((int(_n(i, "at")), k, int(_s(i, "SK")[len(prefix):]), i) for i in items))

        with ThreadPoolExecutor(min(READ_THREADS, len(pending))) as pool:
            streams = list(pool.map(first_page, pending))
        for _, k, seq, item in heapq.merge(*streams, key=lambda t: (t[0], t[1])):
            yield k, seq, item

    def _put_indexed(self, record: _Indexed, kind: base.ChangeKind, data: str,
                     extra: Callable[[int], list[Item]] | None = None) -> tuple[int, list[tuple[str, str]]]:
        """Write a record and move its pointer items in one transaction; return (seq, new index keys).

        The record remembers its pointers in ``idx``; the write is conditional on ``idx`` being what was
        read, so two writers cannot leave two pointers to one record. ``extra`` adds items (a claim) whose
        failed condition surfaces as :class:`_Cancelled` with their positions first.
        """
        pk, sk = record.key
        for _attempt in range(RMW_ATTEMPTS):
            old = self.c.get_item(TableName=self.table, Key=_key(pk, sk), ConsistentRead=True,
                                  ProjectionExpression="PK, idx").get("Item")
            old_idx = _s(old, "idx", "[]") if old else None
            previous = [tuple(k) for k in json.loads(old_idx)] if old_idx else []
            new_idx = json.dumps([list(k) for k in record.indexes])
            item = {**record.item, **_key(pk, sk), "idx": S(new_idx)}
            put: Item = {"TableName": self.table, "Item": item}
            if old is None:
                put["ConditionExpression"] = "attribute_not_exists(PK)"
            else:
                put["ConditionExpression"] = "idx = :old OR attribute_not_exists(idx)"
                put["ExpressionAttributeValues"] = {":old": S(old_idx or "[]")}
            added = [k for k in record.indexes if k not in previous]
            removed = [k for k in previous if k not in record.indexes]

            def build(seq: int, put: Item = put, added: list[Any] = added, removed: list[Any] = removed) -> list[Item]:
                items = extra(seq) if extra else []
                items.append({"Put": put})
                items += [{"Put": {"TableName": self.table,
                                   "Item": {**_key(ipk, isk), "ref_pk": S(pk), "ref_sk": S(sk)}}} for ipk, isk in added]
                items += [{"Delete": {"TableName": self.table, "Key": _key(ipk, isk)}} for ipk, isk in removed]
                return items

            try:
                seq = self._commit(build, kind, data, record.pipeline)
            except _Cancelled as cancelled:
                first = len(extra(0)) if extra else 0
                if any(cancelled.failed(i) for i in range(first)):
                    raise
                continue  # the record moved under us: read again
            return seq, added
        raise RuntimeError(f"store: {self.item_name(pk, sk)} kept changing; gave up after {RMW_ATTEMPTS} attempts")

    def _trim_index(self, pk: str, prefix: str, keep: int) -> None:
        """Delete the pointer items of ``pk``/``prefix`` beyond the newest ``keep``."""
        stale = [item for i, item in enumerate(self._query(pk, prefix=prefix, descending=True, page=keep + 25,
                                                            keys_only=True)) if i >= keep]
        self._batch_write([{"DeleteRequest": {"Key": _key(_s(i, "PK"), _s(i, "SK"))}} for i in stale])

    def _list_indexed(self, pk: str, prefix: str, limit: int, model: type[M]) -> list[M]:
        """The records the pointers of ``pk``/``prefix`` name, newest first, skipping expired/corrupt ones."""
        found: list[M] = []
        pointers = self._query(pk, prefix=prefix, descending=True, page=limit)
        while len(found) < limit:
            batch = [(_s(p, "ref_pk"), _s(p, "ref_sk")) for p in _take(pointers, limit - len(found))]
            if not batch:
                break
            items = self._batch_get(batch)
            for key in batch:
                record = self._decode_item(items.get(key), model)
                if record is not None:
                    found.append(record)
        return found

    # -- pipelines --------------------------------------------------------------------------------

    def register_pipeline(self, config: model.PipelineConfig) -> None:
        self._register(config, None)

    def register_pipeline_files(self, files: Sequence[tuple[model.PipelineConfig, str | None]]) -> None:
        for config, digest in files:  # in order: a name listed twice ends as its last listing
            self._register(config, digest)

    def pipeline_digests(self, names: list[str] | None = None) -> dict[str, str]:
        # The ledger is the ``digest`` of each pipeline's INDEX#pipelines item, written in the same
        # transaction as its config: one Query pages it all, a BatchGetItem per 100 reads some.
        if names is None:
            items: Iterable[Item] = self._query("INDEX#pipelines", prefix="PIPELINE#", page=1000)
        else:
            items = self._batch_get([("INDEX#pipelines", f"PIPELINE#{name}") for name in names]).values()
        return {_s(item, "SK").removeprefix("PIPELINE#"): _s(item, "digest") for item in items if "digest" in item}

    def _register(self, config: model.PipelineConfig, digest: str | None) -> None:
        pk = f"PIPELINE#{config.name}"
        old = self._get_data(pk, "CONFIG", model.PipelineConfig)
        before = set(old.upstreams()) if old else set()
        after = set(config.upstreams())
        # What was given, as given: defaults stay defaults when the model grows new ones.
        data = json.dumps(config.to_json(), separators=(",", ":"))
        items: list[Item] = [
            {"Put": {"TableName": self.table, "Item": {**_key(pk, "CONFIG"), "data": S(data)}}},
            {"Update": {"TableName": self.table, "Key": _key(pk, "REGISTERED"),
                        "UpdateExpression": "SET registeredAt = if_not_exists(registeredAt, :now)",
                        "ExpressionAttributeValues": {":now": S(self.clock.now().isoformat())}}},
            {"Put": {"TableName": self.table, "Item": {**_key("INDEX#pipelines", f"PIPELINE#{config.name}"),
                                                       "ref_pk": S(pk), "ref_sk": S("CONFIG"),
                                                       **({"digest": S(digest)} if digest is not None else {})}}},
        ]
        edges = [{"Put": {"TableName": self.table, "Item": _key(f"DEP#{u}", f"DEP#{config.name}")}}
                 for u in sorted(after)]
        edges += [{"Delete": {"TableName": self.table, "Key": _key(f"DEP#{u}", f"DEP#{config.name}")}}
                  for u in sorted(before - after)]
        self._transact_chunked(items, edges)
        self._update_status(config.name, lambda old: after_register(old, config, self.clock.now()))

    def _transact_chunked(self, head: list[Item], rest: list[Item]) -> None:
        """``head`` + ``rest`` atomically when they fit one transaction, else ``head`` then ``rest`` in chunks.

        Only for idempotent items (dependency edges), so a crash between chunks is repaired by a retry.
        """
        if len(head) + len(rest) <= MAX_TRANSACT_ITEMS:
            self._transact(head + rest)
            return
        self._transact(head)
        for start in range(0, len(rest), MAX_TRANSACT_ITEMS):
            self._transact(rest[start:start + MAX_TRANSACT_ITEMS])

    def get_pipeline(self, name: str) -> model.PipelineConfig:
        found = self._get_data(f"PIPELINE#{name}", "CONFIG", model.PipelineConfig)
        if found is None:
            raise UnknownPipeline(name)
        return found

    def registered_at(self, name: str) -> datetime | None:
        item = self._get(f"PIPELINE#{name}", "REGISTERED")
        raw = _s(item, "registeredAt") if item else ""
        try:
            return datetime.fromisoformat(raw) if raw else None
        except ValueError:
            log.warning("store: skipping corrupt value at %s", self.item_name(f"PIPELINE#{name}", "REGISTERED"))
            return None

    def list_pipelines(self) -> list[model.PipelineConfig]:
        keys = [(_s(p, "ref_pk"), _s(p, "ref_sk")) for p in self._query("INDEX#pipelines", prefix="PIPELINE#",
                                                                        page=1000)]
        items = self._batch_get(keys)
        return [c for c in (self._decode_item(items.get(k), model.PipelineConfig) for k in keys) if c]

    def delete_pipeline(self, name: str) -> None:
        pk = f"PIPELINE#{name}"
        old = self._get_data(pk, "CONFIG", model.PipelineConfig)
        items: list[Item] = [{"Delete": {"TableName": self.table, "Key": _key(pk, "CONFIG")}},
                             {"Delete": {"TableName": self.table, "Key": _key("INDEX#pipelines", f"PIPELINE#{name}")}}]
        edges = [{"Delete": {"TableName": self.table, "Key": _key(f"DEP#{u}", f"DEP#{name}")}}
                 for u in sorted(set(old.upstreams()) if old else set())]
        self._transact_chunked(items, edges)
        self._drop_status(name)

    # -- the operator-state index (interlock.store.status) -----------------------------------------
    # PSTATE#<name>|ROW holds the row (``data``, its ``state``, a version ``v``); STATE#<state>|N#<name>
    # lists the pipelines in a state (SK order = name order) with ``since`` (ms); STATECOUNT|<state>
    # counts them. A row and its index items change in one transaction, conditional on ``v``.

    def _update_status(self, name: str, change: Callable[[PipelineStatus | None], PipelineStatus | None]) -> None:
        row_key, listed = (f"PSTATE#{name}", "ROW"), ("INDEX#pipelines", f"PIPELINE#{name}")
        for attempt in range(1, RMW_ATTEMPTS + 1):
            found = self._batch_get([row_key, listed])
            if listed not in found:
                return  # only registered pipelines are indexed
            item = found.get(row_key)
            old = PipelineStatus.load(self.item_name(*row_key), name, _s(item, "data") or None) if item else None
            new = change(old)
            if new is None:
                return
            old_state = old.state if old else (_s(item, "state") if item else "")
            version = int(_n(item, "v")) if item else 0
            items: list[Item] = [
                {"Put": {"TableName": self.table,
                         "Item": {**_key(*row_key), "data": S(new.dump()), "state": S(new.state), "v": N(version + 1)},
                         **({"ConditionExpression": "v = :v", "ExpressionAttributeValues": {":v": N(version)}}
                            if item else {"ConditionExpression": "attribute_not_exists(PK)"})}},
                {"ConditionCheck": {"TableName": self.table, "Key": _key(*listed),
                                    "ConditionExpression": "attribute_exists(PK)"}},
                {"Put": {"TableName": self.table, "Item": {**_key(f"STATE#{new.state}", f"N#{name}"),
                                                           "since": N(_ms(new.since) if new.since else 0)}}},
            ]
            if old_state != new.state:
                items.append(self._state_count(new.state, 1))
                if old_state in STATES:
                    items.append({"Delete": {"TableName": self.table,
                                             "Key": _key(f"STATE#{old_state}", f"N#{name}")}})
                    items.append(self._state_count(old_state, -1))
            try:
                self._transact(items)
                return
            except _Cancelled:
                _backoff(attempt)  # the row moved on, or the pipeline went: look again
        raise RuntimeError(f"store: the status of {name!r} kept changing; gave up after {RMW_ATTEMPTS} attempts")

    def _state_count(self, state: str, delta: int) -> Item:
        return {"Update": {"TableName": self.table, "Key": _key("STATECOUNT", state),
                           "UpdateExpression": "ADD n :d", "ExpressionAttributeValues": {":d": N(delta)}}}

    def _drop_status(self, name: str) -> None:
        for attempt in range(1, RMW_ATTEMPTS + 1):
            item = self._get(f"PSTATE#{name}", "ROW")
            if item is None:
                return
            state = _s(item, "state")
            items: list[Item] = [{"Delete": {"TableName": self.table, "Key": _key(f"PSTATE#{name}", "ROW"),
                                             "ConditionExpression": "v = :v",
                                             "ExpressionAttributeValues": {":v": N(_n(item, "v"))}}}]
            if state in STATES:
                items += [{"Delete": {"TableName": self.table, "Key": _key(f"STATE#{state}", f"N#{name}")}},
                          self._state_count(state, -1)]
            try:
                self._transact(items)
                return
            except _Cancelled:
                _backoff(attempt)

    def state_counts(self) -> dict[str, int]:
        found = self._batch_get([("STATECOUNT", s) for s in STATES])
        return {s: max(0, int(_n(found.get(("STATECOUNT", s), {}), "n"))) for s in STATES}

    def _names_after(self, pk: str, prefix: str, after: str, limit: int, contains: str) -> list[str]:
        names: list[str] = []
        low = prefix + after
        for item in self._query(pk, prefix=prefix, low=low, page=limit + 1 if not contains else 1000,
                                keys_only=True):
            name = _s(item, "SK")[len(prefix):]
            if name > after and contains in name:
                names.append(name)
                if len(names) >= limit:
                    break
        return names

    def _rows(self, names: list[str]) -> list[PipelineStatus]:
        found = self._batch_get([(f"PSTATE#{n}", "ROW") for n in names])
        rows = []
        for n in names:
            item = found.get((f"PSTATE#{n}", "ROW"))
            row = PipelineStatus.load(self.item_name(f"PSTATE#{n}", "ROW"), n, _s(item, "data") or None) if item \
                else None
            rows.append(row or PipelineStatus.unindexed(n))
        return rows

    def list_statuses(self, states: Collection[str] = (), after: str = "", limit: int = 100,
                      contains: str = "") -> list[PipelineStatus]:
        if limit <= 0:
            return []
        sources = [(f"STATE#{s}", "N#") for s in sorted(set(states))] or [("INDEX#pipelines", "PIPELINE#")]
        names = sorted({n for pk, prefix in sources for n in self._names_after(pk, prefix, after, limit, contains)})
        return self._rows(names[:limit])

    def oldest_in_state(self, state: str, limit: int, before: datetime | None = None) -> list[PipelineStatus]:
        # Reads the state's whole partition: meant for the states that need attention (failed, blocked,
        # running), which a healthy installation keeps small.
        if limit <= 0:
            return []
        cutoff = _ms(before) if before else math.inf
        listed = sorted((_n(i, "since"), _s(i, "SK")[2:])
                        for i in self._query(f"STATE#{state}", prefix="N#", page=1000))
        return self._rows([name for since, name in listed if since <= cutoff][:limit])

    def list_dependents(self, upstream: str) -> list[str]:
        return sorted(_s(i, "SK")[len("DEP#"):] for i in self._query(f"DEP#{upstream}", prefix="DEP#", page=1000,
                                                                      keys_only=True))

    # -- traits, readiness, sensors ---------------------------------------------------------------

    def put_trait(self, evaluation: model.TraitEvaluation, ttl: int,
                  source: base.TraitSource = base.TraitSource.EVALUATOR) -> None:
        expires = evaluation.evaluated_at + timedelta(seconds=ttl) if ttl > 0 else None
        evaluation = evaluation.model_copy(update={"expires_at": expires, "source": source.value})
        item = {**_key(pipeline_pk(evaluation.pipeline_id), trait_sk(evaluation.trait_type, source)),
                "data": S(dump(evaluation))}
        if expires is not None:
            item.update(_expiry(_ms(expires)))  # no ttl attribute at all for a trait without TTL
        self._put(item)

    def get_trait(
        self, pipeline: str, trait_type: str, source: base.TraitSource = base.TraitSource.EVALUATOR
    ) -> model.TraitEvaluation | None:
        return self._get_data(pipeline_pk(pipeline), trait_sk(trait_type, source), model.TraitEvaluation)

    def get_traits(self, pipeline: str,
                   source: base.TraitSource = base.TraitSource.EVALUATOR) -> list[model.TraitEvaluation]:
        items = self._query(pipeline_pk(pipeline), prefix=trait_sk("", source), page=1000)
        return [t for t in (self._decode_item(i, model.TraitEvaluation) for i in items) if t]

    def put_readiness(self, result: model.ReadinessResult, ttl: int) -> None:
        self._put({**_key(f"PIPELINE#{result.pipeline_id}", "READINESS"), "data": S(dump(result)),
                   **_expiry(self._now_ms() + max(1, ttl) * 1000)})
        self._update_status(result.pipeline_id, lambda old: after_readiness(old, result, self.clock.now()))

    def get_readiness(self, pipeline: str) -> model.ReadinessResult | None:
        return self._get_data(f"PIPELINE#{pipeline}", "READINESS", model.ReadinessResult)

    def put_sensor(self, reading: base.SensorReading) -> None:
        self._put({**_key(f"PIPELINE#{reading.pipeline_id}", f"SENSOR#{reading.sensor_type}"),
                   "data": S(reading.dump())})

    def get_sensor(self, pipeline: str, sensor_type: str) -> base.SensorReading | None:
        pk, sk = f"PIPELINE#{pipeline}", f"SENSOR#{sensor_type}"
        item = self._get(pk, sk)
        return base.SensorReading.load(self.item_name(pk, sk), _s(item, "data") if item is not None else None)

    # -- runs -------------------------------------------------------------------------------------

    def _run_record(self, run: model.RunState, data: str) -> _Indexed:
        pk = f"RUN#{run.run_id}"
        item = {"data": S(data), "version": N(run.version), "pipeline": S(run.pipeline_id),
                **self._run_expiry(run.status)}
        index = (f"PIPELINE#{run.pipeline_id}", f"RUNIDX#{_ms13(run.created_at)}#{run.run_id}")
        return _Indexed((pk, pk), item, [index], run.pipeline_id)

    def put_run(self, run: model.RunState) -> None:
        data = dump(run)
        _, added = self._put_indexed(self._run_record(run, data), base.ChangeKind.RUN, data)
        if added:
            self._trim_index(f"PIPELINE#{run.pipeline_id}", "RUNIDX#", self.run_index_limit)

    def get_run(self, run_id: str) -> model.RunState:
        found = self._get_data(f"RUN#{run_id}", f"RUN#{run_id}", model.RunState)
        if found is None:
            raise UnknownRun(run_id)
        return found

    def list_runs(self, pipeline: str, limit: int = base.DEFAULT_RUNS_LIMIT) -> list[model.RunState]:
        limit = limit if limit > 0 else base.DEFAULT_RUNS_LIMIT
        return self._list_indexed(f"PIPELINE#{pipeline}", "RUNIDX#", limit, model.RunState)

    def cas_run(self, run_id: str, expected_version: int, new: model.RunState) -> bool:
        if new.version != expected_version + 1:
            raise ValueError(f"new version must be {expected_version + 1}, got {new.version}")
        if new.run_id != run_id:
            raise ValueError(f"run id mismatch: {new.run_id!r} != {run_id!r}")
        data = dump(new)
        expiry = self._run_expiry(new.status)

        def build(seq: int) -> list[Item]:
            return [{"Update": {
                "TableName": self.table, "Key": _key(f"RUN#{run_id}", f"RUN#{run_id}"),
                "UpdateExpression": "SET #data = :data, #version = :new, #exp = :exp, #ttl = :ttl",
                # An expired run is gone, as in Redis: no CAS brings it back.
                "ConditionExpression": "#version = :expected AND #exp > :now",
                "ExpressionAttributeNames": {"#data": "data", "#version": "version", "#exp": "exp", "#ttl": "ttl"},
                "ExpressionAttributeValues": {":data": S(data), ":new": N(new.version), ":exp": expiry["exp"],
                                              ":ttl": expiry["ttl"], ":expected": N(expected_version),
                                              ":now": N(self._now_ms())},
            }}]

        try:
            self._commit(build, base.ChangeKind.RUN, data, new.pipeline_id)
        except _Cancelled:
            return False
        return True

    def claim(self, key: str, run: model.RunState, epoch: str | None = None) -> tuple[model.RunState, bool]:
        if epoch:  # a read before the claim, as the trigger step did before the check moved here
            current = self.get_epoch()
            if (current.id if current else None) != epoch:
                raise base.EpochChanged(epoch, current.id if current else None)
        data = dump(run)
        claim_item = {**_key(f"CLAIM#{key}", "CLAIM"), "runId": S(run.run_id),
                      **_expiry(self._now_ms() + self._retention_ms())}

        def claim_put(seq: int) -> list[Item]:
            return [{"Put": {
                "TableName": self.table, "Item": claim_item,
                "ConditionExpression": "attribute_not_exists(PK) OR #exp <= :now",
                "ExpressionAttributeNames": {"#exp": "exp"},
                "ExpressionAttributeValues": {":now": N(self._now_ms())},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }}]

        try:
            _, added = self._put_indexed(self._run_record(run, data), base.ChangeKind.RUN, data, extra=claim_put)
        except _Cancelled as lost:
            reason = lost.failed(0) or {}
            owner = _s(reason.get("Item") or self._get(f"CLAIM#{key}", "CLAIM") or {}, "runId")
            if not owner:
                raise ClaimLost(key) from None  # the claim expired between the two reads
            return self.get_run(owner), False
        if added:
            self._trim_index(f"PIPELINE#{run.pipeline_id}", "RUNIDX#", self.run_index_limit)
        return run, True

    def confirm_claim(self, key: str, run: model.RunState) -> bool:
        return True  # an acknowledged DynamoDB write is already stored durably across zones

    # -- run logs ---------------------------------------------------------------------------------

    def put_run_log(self, entry: model.RunLogEntry) -> None:
        entry = entry.model_copy(update={"schedule_id": entry.schedule_id or model.DEFAULT_SCHEDULE})
        data = dump(entry)
        pk = pipeline_pk(entry.pipeline_id)
        # Top-level status/scheduleID/date/runId let a stream consumer see a transition without parsing data.
        item = {"data": S(data), "status": S(entry.status.value), "scheduleID": S(entry.schedule_id),
                "date": S(entry.date), "runId": S(entry.run_id),
                **_expiry(self._now_ms() + self._retention_ms())}
        index = (pk, f"LOGIDX#{_ms13(entry.started_at)}#{entry.date}#{entry.schedule_id}")
        record = _Indexed((pk, run_log_sk(entry.date, entry.schedule_id)), item, [index], entry.pipeline_id)
        _, added = self._put_indexed(record, base.ChangeKind.RUN_LOG, data)
        if added:
            self._trim_index(pk, "LOGIDX#", RUN_LOG_INDEX_LIMIT)
        self._update_status(entry.pipeline_id, lambda old: after_run_log(old, entry, self.clock.now()))

    def get_run_log(self, pipeline: str, date: str, schedule: str = model.DEFAULT_SCHEDULE) -> model.RunLogEntry | None:
        return self._get_data(pipeline_pk(pipeline), run_log_sk(date, schedule or model.DEFAULT_SCHEDULE),
                              model.RunLogEntry)

    def list_run_logs(self, pipeline: str, limit: int = base.DEFAULT_RUN_LOGS_LIMIT) -> list[model.RunLogEntry]:
        limit = limit if limit > 0 else base.DEFAULT_RUN_LOGS_LIMIT
        return self._list_indexed(f"PIPELINE#{pipeline}", "LOGIDX#", limit, model.RunLogEntry)

    # -- events -----------------------------------------------------------------------------------

    def append_event(self, event: model.Event) -> str:
        data = dump(event)
        expiry = _expiry(self._now_ms() + self._retention_ms())

        shard = change_shard(event.pipeline_id, self.change_shards)

        def build(seq: int) -> list[Item]:
            sk = f"EVENT#{_seq20(seq)}"
            return [
                {"Put": {"TableName": self.table,
                         "Item": {**_key(f"PIPELINE#{event.pipeline_id}", sk), "data": S(data), **expiry}}},
                {"Put": {"TableName": self.table,
                         "Item": {**_key(events_pk(shard), sk), "data": S(data), "pipeline": S(event.pipeline_id),
                                  "at": N(time.time_ns() // 1000), **expiry}}},
            ]

        # One number names the event in its pipeline's log, in its shard of the global log and of the change feed.
        return _seq20(self._commit(build, base.ChangeKind.EVENT, data, event.pipeline_id, ref_is_seq=True))

    def _events(self, items: Iterator[Item], count: int) -> list[base.EventRecord]:
        now_ms = self._now_ms()
        records: list[base.EventRecord] = []
        for item in items:
            if self._expired(item, now_ms):
                continue
            event = decode(self.item_name(_s(item, "PK"), _s(item, "SK")), _s(item, "data"), model.Event)
            if event is not None:
                records.append(base.EventRecord(_s(item, "SK")[len("EVENT#"):], event))
                if len(records) >= count:
                    break
        return records

    def list_events(self, pipeline: str, limit: int = base.DEFAULT_EVENTS_LIMIT) -> list[base.EventRecord]:
        limit = limit if limit > 0 else base.DEFAULT_EVENTS_LIMIT
        newest = self._query(f"PIPELINE#{pipeline}", prefix="EVENT#", descending=True, page=limit)
        return list(reversed(self._events(newest, limit)))

    def _read(self, pk: str, after: str, count: int) -> list[base.EventRecord]:
        count = count if count > 0 else base.DEFAULT_READ_COUNT
        low = f"EVENT#{_seq20(base.sequence_after(after) + 1)}"
        return self._events(self._query(pk, prefix="EVENT#", low=low, page=count), count)

    def read_events(self, pipeline: str, after: str = "",
                    count: int = base.DEFAULT_READ_COUNT) -> list[base.EventRecord]:
        return self._read(f"PIPELINE#{pipeline}", after, count)

    def read_all_events(self, after: str = "", count: int = base.DEFAULT_READ_COUNT) -> list[base.EventRecord]:
        """Every pipeline's events, the shards merged; ``stream_id`` is a feed cursor (one position per shard)."""
        count = count if count > 0 else base.DEFAULT_READ_COUNT
        self._check_shards()
        positions = parse_feed_cursor(after, self.change_shards)
        now_ms = self._now_ms()
        records: list[base.EventRecord] = []
        for shard, seq, item in self._merged(events_pk, "EVENT#", positions, count):
            positions[shard] = seq  # an expired or corrupt event is passed over, not re-read
            if self._expired(item, now_ms):
                continue
            event = decode(self.item_name(_s(item, "PK"), _s(item, "SK")), _s(item, "data"), model.Event)
            if event is not None:
                records.append(base.EventRecord(format_feed_cursor(positions), event))
                if len(records) >= count:
                    break
        return records

    # -- reruns and alerts ------------------------------------------------------------------------

    def put_rerun(self, record: model.RerunRecord) -> None:
        data = dump(record)
        pk = f"RERUN#{record.rerun_id}"
        sk = f"RERUNIDX#{_ms13(record.requested_at)}#{record.rerun_id}"
        item = {"data": S(data), "pipeline": S(record.pipeline_id), **self._run_expiry(record.status)}
        indexed = _Indexed((pk, pk), item, [(f"PIPELINE#{record.pipeline_id}", sk), ("INDEX#reruns", sk)],
                           record.pipeline_id)
        _, added = self._put_indexed(indexed, base.ChangeKind.RERUN, data)
        if added:
            self._trim_index(f"PIPELINE#{record.pipeline_id}", "RERUNIDX#", RERUN_INDEX_LIMIT)
            self._trim_index("INDEX#reruns", "RERUNIDX#", GLOBAL_RERUN_INDEX_LIMIT)

    def get_rerun(self, rerun_id: str) -> model.RerunRecord | None:
        return self._get_data(f"RERUN#{rerun_id}", f"RERUN#{rerun_id}", model.RerunRecord)

    def list_reruns(self, pipeline: str, limit: int = base.DEFAULT_RERUNS_LIMIT) -> list[model.RerunRecord]:
        limit = limit if limit > 0 else base.DEFAULT_RERUNS_LIMIT
        return self._list_indexed(f"PIPELINE#{pipeline}", "RERUNIDX#", limit, model.RerunRecord)

    def list_all_reruns(self, limit: int = base.DEFAULT_ALL_RERUNS_LIMIT) -> list[model.RerunRecord]:
        limit = limit if limit > 0 else base.DEFAULT_ALL_RERUNS_LIMIT
        return self._list_indexed("INDEX#reruns", "RERUNIDX#", limit, model.RerunRecord)

    def put_alert(self, alert: model.Alert, outbox: base.OutboxEntry | None = None) -> model.Alert:
        if not alert.alert_id:
            alert = alert.model_copy(update={"alert_id": str(_ms(alert.timestamp))})
        data = dump(alert)
        expiry = _expiry(self._now_ms() + self._retention_ms())
        partitions = ["INDEX#alerts"] + ([f"PIPELINE#{alert.pipeline_id}"] if alert.pipeline_id else [])

        # Top-level level/alertType: an observability consumer reads the category without parsing ``data``
        # (the reference never wrote ``alertType``, so every alert had an empty type).
        attrs = {"data": S(data), "level": S(alert.level.value), **expiry}
        if alert.alert_type:
            attrs["alertType"] = S(alert.alert_type)

        shard = change_shard(alert.pipeline_id or "", self.change_shards)

        def build(seq: int) -> list[Item]:
            # Alerts never change, so each list holds a copy: one query lists them. Numbers repeat across
            # shards, so the shard makes two alerts of the same millisecond in INDEX#alerts distinct.
            sk = f"ALERT#{_ms13(alert.timestamp)}#{_seq20(seq)}#{shard:03d}"
            return [{"Put": {"TableName": self.table, "Item": {**_key(pk, sk), **attrs}}} for pk in partitions]

        self._commit(build, base.ChangeKind.ALERT, data, alert.pipeline_id or "")
        if outbox is not None:  # two more writes, after the alert: the reconcile pass retries a lost one
            self.put_value(outbox.key, outbox.value, outbox.ttl)
            self.set_due(outbox.due_key, outbox.due_at)
        return alert

    def record_delivery(self, delivery: model.AlertDelivery) -> None:
        # Bounded by the retention TTL (DynamoDB's sweeper); listing reads the newest only.
        item = {"data": S(dump(delivery)), **_expiry(self._now_ms() + self._retention_ms())}
        sk = f"DELIVERY#{_ms13(delivery.at)}#{uuid.uuid4().hex}"
        for pk in ["INDEX#deliveries"] + ([] if delivery.ok else ["INDEX#deliveries-failed"]):
            self._put({**_key(pk, sk), **item})

    def list_deliveries(self, limit: int = base.DEFAULT_DELIVERIES_LIMIT,
                        failed: bool = False) -> list[model.AlertDelivery]:
        limit = limit if limit > 0 else base.DEFAULT_DELIVERIES_LIMIT
        found: list[model.AlertDelivery] = []
        pk = "INDEX#deliveries-failed" if failed else "INDEX#deliveries"
        for item in self._query(pk, prefix="DELIVERY#", descending=True, page=limit):
            delivery = self._decode_item(item, model.AlertDelivery)
            if delivery is not None:
                found.append(delivery)
            if len(found) >= limit:
                break
        return found

    def _alerts(self, pk: str, limit: int) -> list[model.Alert]:
        limit = limit if limit > 0 else base.DEFAULT_ALERTS_LIMIT
        return base.first_decoded((self._decode_item(item, model.Alert)
                                   for item in self._query(pk, prefix="ALERT#", descending=True, page=limit)), limit)

    def list_alerts(self, pipeline: str, limit: int = base.DEFAULT_ALERTS_LIMIT) -> list[model.Alert]:
        return self._alerts(f"PIPELINE#{pipeline}", limit)

    def list_all_alerts(self, limit: int = base.DEFAULT_ALERTS_LIMIT) -> list[model.Alert]:
        return self._alerts("INDEX#alerts", limit)

    # -- coordination -----------------------------------------------------------------------------

    def acquire_lock(self, key: str, ttl: float) -> base.Lock | None:
        if ttl <= 0:
            raise ValueError(f"lock TTL must be > 0 seconds, got {ttl}")
        now_ms = self._now_ms()
        exp = now_ms + max(1, int(ttl * 1000))
        holder = uuid.uuid4().hex
        try:
            # One conditional update takes the lock and bumps its fencing counter, so fences never repeat.
            answer = self.c.update_item(
                TableName=self.table, Key=_key(f"LOCK#{key}", "LOCK"),
                UpdateExpression="SET holder = :holder, #exp = :exp, #ttl = :ttl ADD fence :one",
                ConditionExpression="attribute_not_exists(holder) OR #exp <= :now",
                ExpressionAttributeNames={"#exp": "exp", "#ttl": "ttl"},
                ExpressionAttributeValues={":holder": S(holder), ":exp": N(exp), ":one": N(1), ":now": N(now_ms),
                                           ":ttl": self._lock_ttl(exp)},
                ReturnValues="UPDATED_NEW",
            )
        except self.c.exceptions.ConditionalCheckFailedException:
            return None
        fence = int(_n(answer["Attributes"], "fence"))
        return base.Lock(key, f"{fence}:{holder}", fence)

    @staticmethod
    def _lock_ttl(exp_ms: int) -> dict[str, str]:
        # The item outlives the lock so the fencing counter survives release and expiry.
        return N(math.ceil(exp_ms / 1000) + int(LOCK_FENCE_KEEP.total_seconds()))

    def _held(self, lock: base.Lock, update: str, values: Item, names: dict[str, str] | None = None) -> bool:
        """Apply ``update`` to ``lock``'s item iff ``lock`` still holds it (its token, not expired)."""
        fence, _, holder = lock.token.partition(":")
        if not fence.isdigit() or not holder:
            return False
        try:
            self.c.update_item(
                TableName=self.table, Key=_key(f"LOCK#{lock.key}", "LOCK"), UpdateExpression=update,
                ConditionExpression="holder = :holder AND fence = :fence AND #exp > :now",
                ExpressionAttributeNames={"#exp": "exp", **(names or {})},
                ExpressionAttributeValues={":holder": S(holder), ":fence": N(int(fence)), ":now": N(self._now_ms()),
                                           **values},
            )
        except self.c.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_lock(self, lock: base.Lock) -> bool:
        return self._held(lock, "REMOVE holder SET #exp = :zero", {":zero": N(0)})

    def extend_lock(self, lock: base.Lock, ttl: float) -> bool:
        if ttl <= 0:
            raise ValueError(f"lock TTL must be > 0 seconds, got {ttl}")
        exp = self._now_ms() + max(1, int(ttl * 1000))
        return self._held(lock, "SET #exp = :exp, #ttl = :ttl", {":exp": N(exp), ":ttl": self._lock_ttl(exp)},
                          {"#ttl": "ttl"})

    def put_value(self, key: str, value: str, ttl: float | None = None) -> None:
        item = {**_key(f"VALUE#{key}", "VALUE"), "value": S(value)}
        if ttl:
            item.update(_expiry(self._now_ms() + max(1, int(ttl * 1000))))
        self._put(item)

    def get_value(self, key: str) -> str | None:
        item = self._get(f"VALUE#{key}", "VALUE")
        if item is None or self._expired(item):
            return None
        return _s(item, "value")

    def batch(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # each write is its own request (transactions are per record)

    def get_epoch(self) -> base.Epoch | None:
        item = self._get("EPOCH", "EPOCH")
        if item is None or not _s(item, "id"):
            return None
        fields = {name: _s(item, name) for name in ("id", "createdAt", "resetAt", "previous")}
        return base.decode_epoch(self.item_name("EPOCH", "EPOCH"), fields)

    def swap_epoch(self, expected: str | None, new: base.Epoch) -> bool:
        if not new.id:
            raise ValueError("an epoch needs a non-empty id")
        item = {**_key("EPOCH", "EPOCH"), "id": S(new.id), "createdAt": S(new.created_at.isoformat()),
                "previous": S(new.previous)}
        if new.reset_at is not None:
            item["resetAt"] = S(new.reset_at.isoformat())
        if expected is None:  # none, or a damaged one without a string id (read as none, so healable)
            condition: Item = {"ConditionExpression": "attribute_not_exists(PK) OR NOT attribute_type(#id, :s) "
                                                      "OR #id = :empty",
                               "ExpressionAttributeNames": {"#id": "id"},
                               "ExpressionAttributeValues": {":s": S("S"), ":empty": S("")}}
        else:
            condition = {"ConditionExpression": "#id = :expected", "ExpressionAttributeNames": {"#id": "id"},
                         "ExpressionAttributeValues": {":expected": S(expected)}}
        try:
            self.c.put_item(TableName=self.table, Item=item, **condition)
        except self.c.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def count(self, amounts: dict[str, float]) -> None:
        for name, amount in amounts.items():
            self.c.update_item(TableName=self.table, Key=_key("METRICS", f"METRIC#{name}"),
                               UpdateExpression="ADD n :amount", ExpressionAttributeValues={":amount": N(amount)})

    def counts(self) -> dict[str, float]:
        return {_s(i, "SK")[len("METRIC#"):]: _n(i, "n") for i in self._query("METRICS", prefix="METRIC#", page=1000)}

    def mark_once(self, key: str, ttl: float) -> bool:
        if ttl <= 0:
            raise ValueError(f"dedup TTL must be > 0 seconds, got {ttl}")
        now_ms = self._now_ms()
        try:
            self.c.put_item(
                TableName=self.table, Item={**_key(f"ONCE#{key}", "ONCE"), **_expiry(now_ms + max(1, int(ttl * 1000)))},
                ConditionExpression="attribute_not_exists(PK) OR #exp <= :now",
                ExpressionAttributeNames={"#exp": "exp"}, ExpressionAttributeValues={":now": N(now_ms)},
            )
        except self.c.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _due_item(self, key: str, at: datetime) -> Item:
        return {**_key(f"DUE#{key}", "DUE"), "at": N(_ms(at)), "GSI1PK": S("DUE"), "GSI1SK": S(f"{_ms13(at)}#{key}")}

    def set_due(self, key: str, at: datetime) -> None:
        self._put(self._due_item(key, at))

    def set_due_many(self, keys: list[str], at: datetime) -> None:
        # One BatchWriteItem per 25 keys; a key may appear only once per batch.
        self._batch_write([{"PutRequest": {"Item": self._due_item(k, at)}} for k in dict.fromkeys(keys)])

    def add_due_many(self, keys: list[str], at: datetime) -> int:
        # One BatchGetItem per 100 keys finds those with no item; each of those is put only if it is
        # still missing (BatchWriteItem takes no condition), so a time set meanwhile is kept.
        unique = list(dict.fromkeys(keys))
        found = self._batch_get([(f"DUE#{key}", "DUE") for key in unique])
        added = 0
        for key in unique:
            if (f"DUE#{key}", "DUE") in found:
                continue
            try:
                self.c.put_item(TableName=self.table, Item=self._due_item(key, at),
                                ConditionExpression="attribute_not_exists(PK)")
                added += 1
            except self.c.exceptions.ConditionalCheckFailedException:
                pass
        return added

    def clear_due(self, key: str, only_if_at: datetime | None = None) -> bool:
        kwargs: Item = {"TableName": self.table, "Key": _key(f"DUE#{key}", "DUE"), "ReturnValues": "ALL_OLD"}
        if only_if_at is not None:
            kwargs["ConditionExpression"] = "#at = :at"
            kwargs["ExpressionAttributeNames"] = {"#at": "at"}
            kwargs["ExpressionAttributeValues"] = {":at": N(_ms(only_if_at))}
        try:
            return bool(self.c.delete_item(**kwargs).get("Attributes"))
        except self.c.exceptions.ConditionalCheckFailedException:
            return False

    def due(self, now: datetime, limit: int = 1000) -> list[base.DueItem]:
        if limit <= 0:
            return []
        kwargs: Item = {"TableName": self.table, "IndexName": "GSI1",
                        "KeyConditionExpression": "GSI1PK = :due AND GSI1SK < :end",
                        "ExpressionAttributeValues": {":due": S("DUE"), ":end": S(f"{_ms(now) + 1:013d}")},
                        "Limit": min(limit, 1000)}
        candidates: list[tuple[str, int]] = []
        while len(candidates) < limit:
            answer = self.c.query(**kwargs)
            candidates += [(_s(i, "PK")[len("DUE#"):], int(_n(i, "at"))) for i in answer.get("Items", [])]
            if not answer.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        candidates = candidates[:limit]
        # GSI reads lag the table: report only entries whose item still says the same time.
        current = self._batch_get([(f"DUE#{key}", "DUE") for key, _ in candidates])
        return [base.DueItem(key, datetime.fromtimestamp(at / 1000, UTC)) for key, at in candidates
                if int(_n(current.get((f"DUE#{key}", "DUE"), {}), "at", -1)) == at]

    def due_at(self, key: str) -> datetime | None:
        item = self._get(f"DUE#{key}", "DUE")
        return None if item is None else datetime.fromtimestamp(_n(item, "at") / 1000, UTC)

    def breaker(self, key: str, op: base.BreakerOp, now: datetime, policy: base.BreakerPolicy) -> tuple[bool, str]:
        pk = f"BREAKER#{key}"
        for attempt in range(1, RMW_ATTEMPTS + 1):
            item = self._get(pk, "BREAKER") or {}
            fields = {name: _n(item, name) for name in ("failures", "lastFailure", "openedAt", "probeAt")}
            flag, state, changes = base.breaker_step(_s(item, "state", "CLOSED"), fields, op, _ms(now), policy)
            if changes is None:
                return flag, state
            version = int(_n(item, "ver"))
            keep_ms = int(max(policy.window, policy.cooldown) * 1000) + 86_400_000
            new = {**_key(pk, "BREAKER"), "state": S(state), "ver": N(version + 1),
                   **{k: N(int(v)) for k, v in {**fields, **changes}.items()}, **_expiry(self._now_ms() + keep_ms)}
            try:
                self.c.put_item(TableName=self.table, Item=new,
                                ConditionExpression="attribute_not_exists(PK) OR ver = :ver",
                                ExpressionAttributeValues={":ver": N(version)})
            except self.c.exceptions.ConditionalCheckFailedException:
                _backoff(attempt)  # another worker moved the breaker: decide again on its new state
                continue
            return flag, state
        raise RuntimeError(f"store: breaker {key!r} kept changing; gave up after {RMW_ATTEMPTS} attempts")

    # -- archive feed -----------------------------------------------------------------------------

    def read_changes(self, after: str = "", count: int = 500) -> list[base.Change]:
        """Changes after feed cursor ``after``, the shards merged; each carries the cursor just past it."""
        count = count if count > 0 else 500
        self._check_shards()
        positions = parse_feed_cursor(after, self.change_shards)
        changes: list[base.Change] = []
        for shard, seq, item in self._merged(changes_pk, "CHANGE#", positions, count):
            positions[shard] = seq
            change_id, cursor = f"{shard:03d}-{_seq20(seq)}", format_feed_cursor(positions)
            try:
                kind = base.ChangeKind(_s(item, "kind"))
                data = json.loads(item["data"]["S"])
                if not isinstance(data, dict):
                    raise ValueError("not an object")
            except (ValueError, KeyError) as exc:
                log.warning("store: skipping corrupt change %s: %s", self.item_name(_s(item, "PK"), _s(item, "SK")),
                            exc)
                # Still yielded, so a reader's cursor moves past it.
                changes.append(base.Change(change_id, base.ChangeKind.UNREADABLE, {}, cursor=cursor))
            else:
                changes.append(base.Change(change_id, kind, data, _s(item, "ref"), cursor=cursor))
            if len(changes) >= count:
                break
        return changes

    def change_backlog(self) -> int:
        """Changes not trimmed yet, over every shard of the feed (keys only: one query per shard)."""
        return sum(1 for shard in range(self.change_shards)
                   for _ in self._query(changes_pk(shard), prefix="CHANGE#", page=1000, keys_only=True))

    def trim_changes(self, upto: str) -> int:
        """Delete change-feed entries up to and including feed cursor ``upto`` (already archived)."""
        trimmed = 0
        for shard, seq in parse_feed_cursor(upto, self.change_shards).items():
            if seq <= self._trimmed.get(shard, 0):
                continue  # this process trimmed that far already
            stale = list(self._query(changes_pk(shard), low="CHANGE#", high=f"CHANGE#{_seq20(seq)}", page=1000,
                                     keys_only=True))
            self._batch_write([{"DeleteRequest": {"Key": _key(_s(i, "PK"), _s(i, "SK"))}} for i in stale])
            self._trimmed[shard] = seq
            trimmed += len(stale)
        return trimmed


def _take(items: Iterator[Item], n: int) -> list[Item]:
    """Up to ``n`` items from ``items`` (the rest stay in the iterator)."""
    taken: list[Item] = []
    for item in items:
        taken.append(item)
        if len(taken) >= n:
            break
    return taken


def _backoff(attempt: int) -> None:
    """Sleep a little, more after each attempt, with jitter so racing writers spread out."""
    time.sleep(random.uniform(0, min(0.2, 0.002 * 2 ** min(attempt, 7))))
