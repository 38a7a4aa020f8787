"""Store backends the conformance suite runs against, and how to open one from a spec.

A spec is a plain dict so another *process* can open the same store (the lock race test).
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta
from typing import Any

import redis

from interlock.clock import SYSTEM, Clock
from interlock.store.redis import RedisStore

REDIS_URL = os.environ.get("INTERLOCK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ["redis"]


class ShiftedClock:
    """Real time plus an offset the test can move forward (expiry-on-read without sleeping)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return SYSTEM.now() + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


def new_spec(kind: str, **options: Any) -> dict[str, Any]:
    if kind == "redis":
        return {"kind": "redis", "url": REDIS_URL, "prefix": f"interlock-test-{uuid.uuid4().hex[:12]}:", **options}
    raise ValueError(f"unknown backend {kind!r}")


def open_store(spec: dict[str, Any], clock: Clock = SYSTEM) -> RedisStore:
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
    raise ValueError(f"unknown backend {spec['kind']!r}")


def destroy(spec: dict[str, Any]) -> None:
    if spec["kind"] == "redis":
        open_store(spec).purge()
