"""Store backends the conformance suite runs against, and how to open one from a spec.

A spec is a plain dict so another *process* can open the same store (the lock race test). A memory
store lives in one process, so a memory spec opens a new, empty store each time and sits out that test.

DynamoDB runs on one moto server per test session (started on first use, stopped at exit); each spec
gets its own table, and carries the endpoint and dummy credentials so nothing depends on ``~/.aws``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import redis

from interlock.clock import SYSTEM, Clock
from interlock.store.dynamodb import DynamoStore
from interlock.store.memory import MemoryStore
from interlock.store.redis import RedisStore

REDIS_URL = os.environ.get("INTERLOCK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ["memory", "redis", "dynamodb"]
# Backends another process can open too (every one but memory).
SHARED_BACKENDS = ["redis", "dynamodb"]
# Backends that need a service (Redis) or run one (moto's server): the integration set.
SERVICE_BACKENDS = {"redis", "dynamodb"}
AWS_REGION = "us-east-1"
# moto accepts any credentials; fixed ones keep the tests away from the developer's ~/.aws.
AWS_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class ShiftedClock:
    """Real time plus an offset the test can move forward (expiry-on-read without sleeping)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return SYSTEM.now() + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


class _SerialApp:
    """Serve one request at a time, as DynamoDB applies each write atomically.

    moto checks a write's conditions and then applies it without a lock (a transaction deep-copies the
    table meanwhile), so racing conditional writes on its threaded server can both pass: 10 threads racing
    ``cas_run`` had two winners in 1 of 30 trials, and some requests failed inside moto with "dictionary
    changed size during iteration". Real DynamoDB never lets that happen.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


_moto_endpoint: str | None = None
_moto_lock = threading.Lock()


def moto_endpoint() -> str:
    """The URL of this session's moto server, started on first use and stopped at exit."""
    global _moto_endpoint
    with _moto_lock:
        if _moto_endpoint is None:
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from moto.server import ThreadedMotoServer
            from werkzeug.serving import make_server

            class SerialMotoServer(ThreadedMotoServer):  # type: ignore[misc]
                def _server_entry(self) -> None:
                    app = _SerialApp(DomainDispatcherApplication(create_backend_app))
                    self._server = make_server(self._ip_address, self._port, app, True,
                                               request_handler=MotoRequestHandler)
                    self._server_ready_event.set()
                    self._server.serve_forever()

            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
            server = SerialMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            atexit.register(server.stop)
            host, port = server.get_host_and_port()
            _moto_endpoint = f"http://{host}:{port}"
        return _moto_endpoint


def dynamo_client(spec: dict[str, Any]) -> Any:
    import boto3

    return boto3.client("dynamodb", region_name=spec["region"], endpoint_url=spec["endpoint_url"],
                        **spec["credentials"])


def new_spec(kind: str, **options: Any) -> dict[str, Any]:
    if kind == "memory":
        return {"kind": "memory", **options}
    if kind == "redis":
        return {"kind": "redis", "url": REDIS_URL, "prefix": f"interlock-test-{uuid.uuid4().hex[:12]}:", **options}
    if kind == "dynamodb":
        spec = {"kind": "dynamodb", "endpoint_url": moto_endpoint(), "region": AWS_REGION,
                "credentials": AWS_CREDENTIALS, "table": f"interlock-test-{uuid.uuid4().hex[:12]}", **options}
        # No stream: the store never reads it, and moto keeps every stream record in memory and deep-copies
        # it on each transaction (the 257-event paging test took 50 s with it). tests/store checks the stream.
        DynamoStore.create_table(dynamo_client(spec), spec["table"], stream=False)
        return spec
    raise ValueError(f"unknown backend {kind!r}")


def open_store(spec: dict[str, Any], clock: Clock = SYSTEM) -> Any:
    if spec["kind"] == "memory":
        return MemoryTestStore(
            retention=timedelta(seconds=spec.get("retention_seconds", 7 * 86400)),
            run_index_limit=spec.get("run_index_limit", 100),
            event_stream_max=spec.get("event_stream_max", 10_000),
            clock=clock,
        )
    if spec["kind"] == "redis":
        client = redis.Redis.from_url(spec["url"], decode_responses=True)
        return RedisStore(
            client,
            spec["prefix"],
            retention=timedelta(seconds=spec.get("retention_seconds", 7 * 86400)),
            run_index_limit=spec.get("run_index_limit", 100),
            event_stream_max=spec.get("event_stream_max", 10_000),
            clock=clock,
        )
    if spec["kind"] == "dynamodb":
        return DynamoTestStore(
            dynamo_client(spec),
            spec["table"],
            retention=timedelta(seconds=spec.get("retention_seconds", 7 * 86400)),
            run_index_limit=spec.get("run_index_limit", 100),
            clock=clock,
        )
    raise ValueError(f"unknown backend {spec['kind']!r}")


def destroy(spec: dict[str, Any]) -> None:
    if spec["kind"] == "redis":
        open_store(spec).purge()
    elif spec["kind"] == "dynamodb":
        dynamo_client(spec).delete_table(TableName=spec["table"])


class DynamoTestStore(DynamoStore):
    """A DynamoStore plus the raw-write surface (``k``, ``r``) the corrupt-value test uses on Redis.

    The test plants corrupt values by Redis key; here ``k`` names the DynamoDB item that holds the same
    record (as the store names it in its log lines) and ``r`` writes raw values into that item, so the
    test checks the DynamoDB store's own handling of corrupt items.
    """

    def k(self, *parts: str) -> str:
        match parts:
            case ("pipelines",):
                return "INDEX#pipelines"
            case ("pipeline", name):
                return self.item_name(f"PIPELINE#{name}", "CONFIG")
            case ("run", run_id):
                return self.item_name(f"RUN#{run_id}", f"RUN#{run_id}")
        raise KeyError(f"no DynamoDB item for Redis key parts {parts}")

    @property
    def r(self) -> _RawItems:
        return _RawItems(self)


class _RawItems:
    def __init__(self, store: DynamoTestStore) -> None:
        self.store = store

    def set(self, name: str, raw: str) -> None:
        """Overwrite the ``data`` of item ``name`` with ``raw``, keeping its other attributes."""
        pk, _, sk = name.partition("|")
        self.store.c.update_item(TableName=self.store.table, Key={"PK": {"S": pk}, "SK": {"S": sk}},
                                 UpdateExpression="SET #d = :d", ExpressionAttributeNames={"#d": "data"},
                                 ExpressionAttributeValues={":d": {"S": raw}})

    def sadd(self, index: str, member: str) -> None:
        """List pipeline ``member`` in the pipeline index (as SADD to the Redis set does)."""
        assert index == "INDEX#pipelines", index
        self.store.c.put_item(TableName=self.store.table, Item={
            "PK": {"S": index}, "SK": {"S": f"PIPELINE#{member}"},
            "ref_pk": {"S": f"PIPELINE#{member}"}, "ref_sk": {"S": "CONFIG"}})


class MemoryTestStore(MemoryStore):
    """A MemoryStore plus the raw-write surface (``k``, ``r``) the corrupt-value test uses on Redis.

    ``k`` names a record as the store names it in its log lines (``run:<id>``); ``r.set`` replaces that
    record's stored JSON with ``raw``, so the test checks the memory store's own handling of corrupt values.
    """

    def k(self, *parts: str) -> str:
        return ":".join(parts)

    @property
    def r(self) -> _RawRecords:
        return _RawRecords(self)


class _RawRecords:
    def __init__(self, store: MemoryTestStore) -> None:
        self.store = store

    def set(self, name: str, raw: str) -> None:
        kind, _, ident = name.partition(":")
        with self.store._lock:
            if kind == "pipeline":
                self.store._pipelines[ident] = raw
            elif kind == "run":
                self.store._runs[ident].raw = raw
            else:
                raise KeyError(f"no memory record for {name!r}")

    def sadd(self, index: str, member: str) -> None:
        """The memory store lists every stored pipeline config; nothing else to add."""
        assert index == "pipelines" and member in self.store._pipelines, (index, member)
