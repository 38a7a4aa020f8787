"""Connecting to the archive database and migrating its schema with Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine

from interlock.config.project import database_url_from

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "interlock_alembic_version"


class NoDatabase(Exception):
    """No archive database is configured."""


def make_engine(url: str | None) -> Engine:
    """An engine for the archive; ``postgres://`` DSNs are accepted as written by the reference."""
    resolved = database_url_from(url)
    if not resolved:
        raise NoDatabase("no archive database configured: set INTERLOCK_DATABASE_URL or archiver.dsn in interlock.yaml")
    return create_engine(resolved, pool_pre_ping=True, future=True)


def _config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as conn:
        cfg = _config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    with engine.begin() as conn:
        cfg = _config(engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def head_revision() -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()
