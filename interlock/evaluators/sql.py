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

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from interlock import rules
from interlock.evaluators.base import EvaluationRequest, EvaluatorOutput
from interlock.evaluators.sqlquery import QueryProblem, prepare
from interlock.model import FailureCategory, TraitStatus
from interlock.redaction import redact, remember

if TYPE_CHECKING:
    from sqlalchemy import Engine

# ``url`` must be exactly one ``${INTERLOCK_*}`` reference.
URL_REFERENCE = re.compile(r"^\$\{(INTERLOCK_[A-Za-z0-9_]+)\}$")
DRIVERS = ("psycopg2", "psycopg")
# Rows fetched beyond the first, to report how many the query returned (more is reported as "more").
MAX_ROWS = 1000
# Connections a pool keeps open, and may open beyond that under load (per URL, per process).
POOL_SIZE = 4
POOL_OVERFLOW = 8
# Seconds an idle pooled connection is kept before it is replaced (server-side idle killers, failovers).
POOL_RECYCLE = 1800
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


@dataclass(frozen=True)
class _Pools:
    engines: dict[tuple[str, int], Engine]
    lock: threading.Lock


_pools = _Pools({}, threading.Lock())


def _forget_inherited_pools() -> None:
    """In a forked child: drop the parent's pools without closing its sockets (the parent still uses them)."""
    global _pools
    inherited = _pools
    _pools = _Pools({}, threading.Lock())
    for engine in inherited.engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_pools)


def dispose_pools() -> None:
    """Close every pooled connection of this process (shutdown, tests that drop their database)."""
    global _pools
    closing = _pools
    _pools = _Pools({}, threading.Lock())
    for engine in closing.engines.values():
        engine.dispose()


def evaluate_sql(request: EvaluationRequest, timeout: float, environ: Mapping[str, str], now: datetime
                 ) -> EvaluatorOutput:
    """Run the trait's query and decide on its first row; never raises for database problems."""
    config = request.config
    try:
        prepared = prepare(config.get("query"))  # type: ignore[arg-type]
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


def _url(raw: Any, environ: Mapping[str, str]) -> str | EvaluatorOutput:
    match = URL_REFERENCE.match(raw) if isinstance(raw, str) else None
    if match is None:
        return _permanent("config invalid: url must be one ${INTERLOCK_*} variable holding the database URL "
                          "(never the URL itself)")
    name = match.group(1)
    value = environ.get(name)
    if not value:
        return _permanent(f"environment variable {name} is not set (it holds the database URL of builtin:sql)")
    remember(value)
    return value


def _query(url: str, sql: str, params: dict[str, str], timeout: float
           ) -> tuple[list[str], list[tuple[Any, ...]], bool]:
    from sqlalchemy import exc, text

    statement = text(sql)
    for attempt in (1, 2):
        engine = _engine(url, timeout)
        try:
            with engine.connect() as conn:
                result = conn.execute(statement, params)
                columns = [str(c) for c in result.keys()]  # noqa: SIM118 (a Result, not a dict)
                rows = [tuple(r) for r in result.fetchmany(MAX_ROWS + 1)]
                return columns, rows[:MAX_ROWS], len(rows) > MAX_ROWS
        except exc.DBAPIError as error:
            # A pooled connection the server closed (restart, idle killer): the pool drops it; one
            # more try gets a fresh connection instead of an ERROR for a database that is fine.
            if attempt == 2 or not error.connection_invalidated:
                raise
    raise AssertionError("unreachable")


def _engine(url: str, timeout: float) -> Engine:
    """This process's pool for ``url`` with a statement timeout of ``timeout`` seconds."""
    timeout_ms = max(1, int(timeout * 1000))
    key = (url, timeout_ms)
    pools = _pools
    engine = pools.engines.get(key)
    if engine is not None:
        return engine
    with pools.lock:
        engine = pools.engines.get(key)
        if engine is None:
            engine = _create_engine(url, timeout_ms)
            pools.engines[key] = engine
    return engine


def _create_engine(url: str, timeout_ms: int) -> Engine:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.password:
        remember(str(parsed.password))
    if parsed.get_backend_name() != "postgresql" or parsed.get_driver_name() not in DRIVERS:
        raise _Unsupported(f"builtin:sql runs on PostgreSQL (postgresql:// or postgresql+psycopg2:// URLs); "
                           f"got a {parsed.drivername} URL")
    session = f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}"
    given = parsed.query.get("options")
    options = f"{given if isinstance(given, str) else ' '.join(given or ())} {session}".strip()
    connect_timeout = max(1, min(CONNECT_TIMEOUT, -(-timeout_ms // 1000)))
    return create_engine(
        parsed, isolation_level="AUTOCOMMIT", pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW,
        pool_timeout=max(1.0, timeout_ms / 1000), pool_recycle=POOL_RECYCLE,
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
    if isinstance(error, exc.DBAPIError) and not isinstance(error, exc.InterfaceError):
        lowered = text.lower()
        if "fatal" in lowered and any(p in lowered for p in _PERMANENT_CONNECT):
            return FailureCategory.PERMANENT, f"connection refused by the server: {text}"
        if isinstance(error, (exc.ProgrammingError, exc.DataError, exc.IntegrityError, exc.NotSupportedError)):
            return FailureCategory.PERMANENT, text
        return FailureCategory.TRANSIENT, f"cannot reach the database: {text}"
    return FailureCategory.TRANSIENT, f"{type(error).__name__}: {text}"


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = " ".join(lines[:2]) if lines else type(error).__name__
    return redact(text)[:MAX_ERROR_CHARS]


def _permanent(reason: str) -> EvaluatorOutput:
    return _output(reason, FailureCategory.PERMANENT)


def _output(reason: str, category: FailureCategory) -> EvaluatorOutput:
    return EvaluatorOutput.error(redact(reason), category)
