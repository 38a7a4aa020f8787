"""A PostgreSQL database per test (created on the real server, dropped afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from sqlalchemy import Engine

from interlock.archive import db as archive_db

PG_ADMIN_DSN = os.environ.get("INTERLOCK_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_URL_TEMPLATE = os.environ.get("INTERLOCK_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/{db}")


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
def database_url() -> Iterator[str]:
    name = f"interlock_test_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL_TEMPLATE.format(db=name)
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = archive_db.make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def migrated(engine: Engine) -> Engine:
    archive_db.upgrade(engine)
    return engine
