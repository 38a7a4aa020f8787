"""Alembic migrations: from an empty database, and down and up again."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from interlock.archive import db as archive_db
from interlock.archive.models import Base

pytestmark = pytest.mark.integration

TABLES = {"runs", "run_logs", "reruns", "events", "trait_evaluations", "alerts", "archive_cursors"}


def test_upgrade_from_empty_creates_the_schema_the_models_describe(engine: Engine) -> None:
    assert archive_db.current_revision(engine) is None
    archive_db.upgrade(engine)
    assert archive_db.current_revision(engine) == archive_db.head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": archive_db.VERSION_TABLE})
        diff = compare_metadata(context, Base.metadata)
    assert [d for d in diff if not (d[0] == "remove_table" and d[1].name == archive_db.VERSION_TABLE)] == []


def test_downgrade_then_upgrade_round_trips(engine: Engine) -> None:
    archive_db.upgrade(engine)
    archive_db.downgrade(engine, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    assert archive_db.current_revision(engine) is None
    archive_db.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES


def test_interlock_db_upgrade_creates_the_schema_from_the_environment(database_url: str, engine: Engine) -> None:
    env = {**os.environ, "INTERLOCK_DATABASE_URL": database_url}
    result = subprocess.run([sys.executable, "-m", "interlock.cli", "db", "upgrade"], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "archive schema at revision 0001" in result.stdout
    assert set(inspect(engine).get_table_names()) >= TABLES


def test_interlock_db_upgrade_without_a_database_says_what_to_set(tmp_path: object) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
    env["INTERLOCK_CONFIG"] = "/nonexistent/interlock.yaml"
    result = subprocess.run([sys.executable, "-m", "interlock.cli", "db", "upgrade"], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "config file not found" in result.stderr
