"""``builtin:sql``: one read query against a database, decided by rules on its first row.

::

    evaluator: builtin:sql
    config:
      url: ${INTERLOCK_WAREHOUSE_URL}
      query: select count(*) as n from sales where day = :date
      rules: [{field: n, check: gte, value: 1}]

* The URL comes only from an ``${INTERLOCK_*}`` variable (validation refuses one written in clear);
  its value is remembered as a secret, so no error or log carries it (:mod:`interlock.redaction`).
* The query is checked by :mod:`interlock.evaluators.sqlquery`; the period's values go in as bind
  parameters (``:date``, ``:period``, ``:pipelineId``, ``:scheduleId``), never into the text.
* Every statement runs in a read-only transaction with a statement timeout (the trait's timeout):
  both are set as the session's defaults when the pool opens a connection (``options=-c
  default_transaction_read_only=on -c statement_timeout=...``), so a query costs one round trip and
  the query check refuses ``SET``-like words that could change them.
* One connection pool per (URL, timeout) per process, kept for the process's life and forgotten in
  a forked child (Celery's prefork pool), which opens its own: a connection is never shared across
  processes, and no evaluation pays for a connection.
* PostgreSQL through psycopg2 (a dependency) or psycopg; other databases are refused with a clear
  PERMANENT error in this version.

Without ``rules``, the check passes when the first column of the first row is truthy (Airflow's
``SqlSensor``). A query that returns no rows is a FAIL either way. Errors: authentication,
permissions, a missing database, syntax or data errors and a write attempt are PERMANENT; a refused
connection, a statement timeout, a shutdown or an exhausted pool are TRANSIENT.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from time import monotonic
from typing import TYPE_CHECKING, Any
from uuid import UUID

from interlock import rules
from interlock.config.project import database_url_from
from interlock.evaluators.base import EvaluationRequest, EvaluatorOutput
from interlock.evaluators.sqlquery import Prepared, QueryProblem, prepare
from interlock.model import FailureCategory, TraitStatus
from interlock.redaction import redact, remember

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.pool import PoolProxiedConnection

# ``url`` must be exactly one ``${INTERLOCK_*}`` reference.
URL_REFERENCE = re.compile(r"^\$\{(INTERLOCK_[A-Za-z0-9_]+)\}$")
DRIVERS = ("psycopg2", "psycopg")
# Rows read of a query's result (it is wrapped in a LIMIT one beyond this, reported as "moreRows").
MAX_ROWS = 1000
# Connections a pool keeps open, and may open beyond that under load (per URL, per process).
POOL_SIZE = 4
POOL_OVERFLOW = 8
# Seconds an idle pooled connection is kept before it is replaced (server-side idle killers, failovers).
POOL_RECYCLE = 1800
# Key of a connection's kept cursor in SQLAlchemy's per-connection ``info``.
_CURSOR = "interlock.sql.cursor"
# Longest wait for a connection to open (s); a shorter trait timeout wins.
CONNECT_TIMEOUT = 10
# Characters of a database error quoted in a reason.
MAX_ERROR_CHARS = 500

# SQLSTATE classes (first two characters) whose errors will not go away by retrying.
_PERMANENT_CLASSES = frozenset({"0A", "0L", "0P", "21", "22", "23", "25", "28", "2B", "2F", "38", "39", "3D",
                                "3F", "42", "44", "54"})
# Connection-time refusals: libpq reports them as text, without a SQLSTATE.
_PERMANENT_CONNECT = ("password authentication failed", "authentication failed", "does not exist",
                      "no pg_hba.conf entry", "not permitted to log in", "permission denied",
                      "invalid dsn", "invalid connection option", "server does not support ssl")


class _Pool:
    """SQLAlchemy's pool for one (URL, timeout), with a free list of the connections it lent us in front.

    SQLAlchemy creates, limits, invalidates and disposes the connections; an evaluation takes one
    from the free list and puts it back, which costs a list pop and append instead of the pool's
    checkout and checkin (as much as the query itself on a local database). A connection lent for
    longer than :data:`POOL_RECYCLE` goes back to SQLAlchemy, which replaces it at a later checkout.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # query (as prepared) -> the driver's SQL text (``%(date)s`` placeholders), compiled once
        self.statements: dict[str, str] = {}
        self.idle: list[tuple[PoolProxiedConnection, float]] = []
        self.lock = threading.Lock()

    def lease(self) -> tuple[PoolProxiedConnection, float]:
        with self.lock:
            if self.idle:
                return self.idle.pop()
        return self.engine.raw_connection(), monotonic()

    def give_back(self, conn: PoolProxiedConnection, since: float) -> None:
        if monotonic() - since < POOL_RECYCLE:
            with self.lock:
                if len(self.idle) < POOL_SIZE:
                    self.idle.append((conn, since))
                    return
        conn.close()  # back to SQLAlchemy's pool

    def dispose(self) -> None:
        with self.lock:
            lent, self.idle = self.idle, []
        for conn, _ in lent:
            conn.close()
        self.engine.dispose()


@dataclass(frozen=True)
class _Pools:
    engines: dict[tuple[str, int], _Pool]
    lock: threading.Lock


_pools = _Pools({}, threading.Lock())
# A forked child keeps its parent's pools referenced for good: a DBAPI connection that is garbage
# collected says goodbye to the server on its socket, which would end the parent's session.
_inherited: list[_Pools] = []


def _forget_inherited_pools() -> None:
    """In a forked child: start with no pools, never touching the parent's connections."""
    global _pools
    _inherited.append(_pools)
    _pools = _Pools({}, threading.Lock())


os.register_at_fork(after_in_child=_forget_inherited_pools)


def dispose_pools() -> None:
    """Close every pooled connection of this process (shutdown, tests that drop their database)."""
    global _pools
    closing = _pools
    _pools = _Pools({}, threading.Lock())
    for pool in closing.engines.values():
        pool.dispose()


def evaluate_sql(request: EvaluationRequest, timeout: float, environ: Mapping[str, str], now: datetime
                 ) -> EvaluatorOutput:
    """Run the trait's query and decide on its first row; never raises for database problems."""
    config = request.config
    try:
        prepared = _prepared(config.get("query"))
    except QueryProblem as exc:
        return _permanent(f"config invalid: query: {exc}")
    checks: list[rules.Rule] = []
    if config.get("rules") is not None:
        try:
            checks = rules.parse(config["rules"])
        except rules.RuleError as exc:
            return _permanent(f"config invalid: {exc}")
    url = _url(config.get("url"), environ)
    if isinstance(url, EvaluatorOutput):
        return url
    period = str(config.get("period") or config.get("date") or "")
    values = {"date": str(config.get("date") or period), "period": period, "pipelineId": request.pipeline_id,
              "scheduleId": str(config.get("scheduleId") or "")}
    params = {name: values[name] for name in prepared.binds}
    try:
        columns, rows, more = _query(url, prepared.sql, params, timeout)
    except Exception as exc:
        return _database_error(exc, timeout)
    return _decide(columns, rows, more, checks, now)


@functools.lru_cache(maxsize=1024)
def _prepared_text(query: str) -> Prepared:
    return prepare(query)


def _prepared(query: Any) -> Prepared:
    """The checked query, checked once per process per text (the same trait runs every few seconds)."""
    if not isinstance(query, str):
        return prepare(query)
    return _prepared_text(query)


# URL values already handed to the redaction module (remembering one costs more than a query).
_remembered: set[str] = set()


def _url(raw: Any, environ: Mapping[str, str]) -> str | EvaluatorOutput:
    match = URL_REFERENCE.match(raw) if isinstance(raw, str) else None
    if match is None:
        return _permanent("config invalid: url must be one ${INTERLOCK_*} variable holding the database URL "
                          "(never the URL itself)")
    name = match.group(1)
    value = environ.get(name)
    if not value:
        return _permanent(f"environment variable {name} is not set (it holds the database URL of builtin:sql)")
    if value not in _remembered:
        remember(value)
        _remembered.add(value)
    return value


def _query(url: str, sql: str, params: dict[str, str], timeout: float
           ) -> tuple[list[str], list[tuple[Any, ...]], bool]:
    """Run ``sql`` on a pooled DBAPI connection: (columns, up to MAX_ROWS rows, whether there were more).

    The driver's cursor is used directly (the statement compiled once per pool): SQLAlchemy's
    Connection and Result layers cost more than the query itself for a ``count(*)`` on localhost.
    """
    for attempt in (1, 2):
        pool = _pool(url, timeout)
        statement = pool.statements.get(sql)
        if statement is None:
            from sqlalchemy import text

            # The driver reads a whole result into memory: the LIMIT keeps a careless
            # ``select * from sales`` from filling the worker's memory (order is kept).
            bounded = f"select * from (\n{sql}\n) as interlock_query limit {MAX_ROWS + 1}"
            statement = str(text(bounded).compile(dialect=pool.engine.dialect))
            pool.statements[sql] = statement
        conn, since = pool.lease()
        try:
            # One cursor per connection, kept with it (in SQLAlchemy's per-connection info, which a
            # reconnect empties): a cursor is cheap, but not next to a 30 µs query.
            cursor = conn.info.get(_CURSOR)
            if cursor is None:
                cursor = conn.info[_CURSOR] = conn.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor.execute(statement, params)
            columns = [str(d[0]) for d in cursor.description or ()]
            rows = cursor.fetchall()
        except Exception as error:
            # A pooled connection the server closed (restart, idle killer): drop it, and try once
            # more on a fresh one instead of reporting an ERROR for a database that is fine.
            gone = pool.engine.dialect.is_disconnect(error, conn.dbapi_connection, None)  # type: ignore[arg-type]
            if gone:
                conn.invalidate(error)
                conn.close()
            else:
                pool.give_back(conn, since)
            if gone and attempt == 1:
                continue
            raise
        pool.give_back(conn, since)
        return columns, [tuple(r) for r in rows[:MAX_ROWS]], len(rows) > MAX_ROWS
    raise AssertionError("unreachable")


def _pool(url: str, timeout: float) -> _Pool:
    """This process's pool for ``url`` with a statement timeout of ``timeout`` seconds."""
    timeout_ms = max(1, int(timeout * 1000))
    key = (url, timeout_ms)
    pools = _pools
    pool = pools.engines.get(key)
    if pool is not None:
        return pool
    with pools.lock:
        pool = pools.engines.get(key)
        if pool is None:
            pool = _Pool(_create_engine(url, timeout_ms))
            pools.engines[key] = pool
    return pool


def _create_engine(url: str, timeout_ms: int) -> Engine:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    # ``postgresql://`` and ``postgres://`` mean psycopg2, the driver Interlock depends on (as for the archive).
    parsed = make_url(database_url_from(url) or url)
    if parsed.password:
        remember(str(parsed.password))
    if parsed.get_backend_name() != "postgresql" or parsed.get_driver_name() not in DRIVERS:
        raise _Unsupported(f"this version queries PostgreSQL only (postgresql:// or postgresql+psycopg2:// URLs); "
                           f"got a {parsed.drivername} URL")
    session = f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}"
    given = parsed.query.get("options")
    options = f"{given if isinstance(given, str) else ' '.join(given or ())} {session}".strip()
    connect_timeout = max(1, min(CONNECT_TIMEOUT, -(-timeout_ms // 1000)))
    return create_engine(
        parsed, isolation_level="AUTOCOMMIT", pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW,
        pool_timeout=max(1.0, timeout_ms / 1000), pool_recycle=POOL_RECYCLE, pool_reset_on_return=None,
        connect_args={"options": options, "connect_timeout": connect_timeout,
                      "application_name": "interlock builtin:sql"})


class _Unsupported(Exception):
    """A URL this version cannot run queries on."""


def _decide(columns: list[str], rows: list[tuple[Any, ...]], more: bool, checks: list[rules.Rule],
            now: datetime) -> EvaluatorOutput:
    if not rows:
        return EvaluatorOutput(TraitStatus.FAIL, {"rows": 0, "columns": columns}, "query returned no rows")
    first = dict(zip(columns, rows[0], strict=True))
    value: dict[str, Any] = {"rows": len(rows), "row": {k: jsonable(v) for k, v in first.items()}}
    if more:
        value["moreRows"] = True
    if not checks:
        head = columns[0]
        if not first[head]:
            return EvaluatorOutput(TraitStatus.FAIL, value, f"first column {head} is {_shown(first[head])}")
        return EvaluatorOutput(TraitStatus.PASS, value, f"first column {head} is {_shown(first[head])}")
    missing = [r.field for r in checks if r.field.split(".")[0] not in first and r.field not in first]
    if missing:
        return EvaluatorOutput(TraitStatus.ERROR, value,
                               f"rules name {', '.join(missing)}, which the query does not return "
                               f"(columns: {', '.join(columns)})", FailureCategory.PERMANENT)
    verdict = rules.judge(checks, first, now)
    if not verdict.holds:
        return EvaluatorOutput(TraitStatus.FAIL, value, verdict.reason())
    return EvaluatorOutput(TraitStatus.PASS, value, f"all {len(checks)} rules held on the first row")


def jsonable(value: Any) -> Any:
    """A column value as the trait result stores it (JSON): exact integers stay integers."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() and abs(value) < 2**63 else float(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def _shown(value: Any) -> str:
    return "null" if value is None else repr(jsonable(value))


def _database_error(error: Exception, timeout: float) -> EvaluatorOutput:
    category, reason = classify(error, timeout)
    return _output(f"builtin:sql: {reason}", category)


def classify(error: Exception, timeout: float = 0.0) -> tuple[FailureCategory, str]:
    """Whether retrying can help with ``error``, and what to say about it (secrets redacted)."""
    from sqlalchemy import exc

    if isinstance(error, _Unsupported):
        return FailureCategory.PERMANENT, str(error)
    if isinstance(error, ImportError):
        return FailureCategory.PERMANENT, f"the database driver for this URL is not installed ({error})"
    if isinstance(error, exc.NoSuchModuleError):
        return FailureCategory.PERMANENT, f"no database driver for this URL ({_first_line(error)})"
    if isinstance(error, exc.ArgumentError):
        return FailureCategory.PERMANENT, f"the variable does not hold a valid SQLAlchemy URL ({_first_line(error)})"
    if isinstance(error, exc.TimeoutError):
        return FailureCategory.TRANSIENT, "no pooled connection became free in time"
    original = getattr(error, "orig", None) or error
    code = getattr(original, "pgcode", None)
    text = _first_line(original)
    if isinstance(code, str) and len(code) == 5:
        if code == "57014":
            return FailureCategory.TRANSIENT, f"query timed out after {timeout:g}s (statement_timeout) [{code}]"
        category = FailureCategory.PERMANENT if code[:2] in _PERMANENT_CLASSES else FailureCategory.TRANSIENT
        return category, f"{text} [{code}]"
    # PEP 249 error classes, whether SQLAlchemy wrapped the driver's error or not.
    kinds = {c.__name__ for c in type(original).__mro__} | {c.__name__ for c in type(error).__mro__}
    if "DatabaseError" in kinds and "InterfaceError" not in kinds:
        lowered = text.lower()
        if "fatal" in lowered and any(p in lowered for p in _PERMANENT_CONNECT):
            return FailureCategory.PERMANENT, f"connection refused by the server: {text}"
        if kinds & {"ProgrammingError", "DataError", "IntegrityError", "NotSupportedError"}:
            return FailureCategory.PERMANENT, text
        return FailureCategory.TRANSIENT, f"cannot reach the database: {text}"
    return FailureCategory.TRANSIENT, f"{type(original).__name__}: {text}"


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = " ".join(lines[:2]) if lines else type(error).__name__
    return redact(text)[:MAX_ERROR_CHARS]


def _permanent(reason: str) -> EvaluatorOutput:
    return _output(reason, FailureCategory.PERMANENT)


def _output(reason: str, category: FailureCategory) -> EvaluatorOutput:
    return EvaluatorOutput.error(redact(reason), category)
