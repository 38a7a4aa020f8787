"""A PostgreSQL database of the test's own, standing in for a warehouse that ``builtin:sql`` reads."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg2
import pytest

from interlock.evaluators.sql import dispose_pools

PG_ADMIN_DSN = os.environ.get("INTERLOCK_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def admin(sql: str, dbname: str = "postgres") -> None:
    """Run ``sql`` as the superuser (autocommit), in ``dbname``."""
    conn = psycopg2.connect(PG_ADMIN_DSN.replace("dbname=postgres", f"dbname={dbname}"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@pytest.fixture
def warehouse() -> Iterator[str]:
    """The name of a fresh database (dropped afterwards, with this process's pools to it)."""
    name = f"interlock_wh_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        dispose_pools()
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
