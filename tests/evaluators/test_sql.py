"""``builtin:sql`` against the real PostgreSQL, in a database of the test's own.

The server here trusts every connection from 127.0.0.1 (pg_hba ``trust``), so a wrong password
is accepted and cannot be tested as such: the authentication failures below are a role that does
not exist (refused at connection, like a wrong password, with no SQLSTATE) and a role without the
SELECT privilege (42501).
"""

from __future__ import annotations

import multiprocessing
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from interlock.clock import FrozenClock
from interlock.evaluators.base import EvaluationRequest, EvaluatorOutput
from interlock.evaluators.builtin import BuiltinContext, BuiltinEvaluator
from interlock.model import FailureCategory, TraitStatus
from interlock.store.memory import MemoryStore
from tests.evaluators.conftest import admin

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = "2026-03-01"
ENV = "INTERLOCK_WAREHOUSE_URL"
PARTITION_QUERY = "select count(*) as n, max(loaded_at) as loaded_at from sales where day = :date"
RULES = [{"field": "n", "check": "gte", "value": 1}, {"field": "loaded_at", "check": "age_lt", "value": "1h"}]


def url_for(database: str, user: str = "postgres", password: str = "", port: int = 5432) -> str:
    auth = f"{user}:{password}" if password else user
    return f"postgresql+psycopg2://{auth}@127.0.0.1:{port}/{database}"


def run(url: str, config: dict[str, Any], *, pipeline: str = "sales-daily", timeout: float = 10.0,
        date: str = DAY) -> EvaluatorOutput:
    ctx = BuiltinContext(MemoryStore(), FrozenClock(NOW), environ={ENV: url})
    full = {"url": f"${{{ENV}}}", "scheduleId": "daily", "date": date, **config}
    return BuiltinEvaluator("sql", ctx).evaluate(EvaluationRequest(pipeline, "partition", full), timeout)


@pytest.fixture
def sales(warehouse: str) -> str:
    admin("create table sales (day date not null, amount numeric not null, loaded_at timestamptz not null)",
          warehouse)
    return url_for(warehouse)


def load(database: str, day: str, rows: int, loaded_at: datetime) -> None:
    values = ", ".join(f"('{day}', {i + 1}.5, '{loaded_at.isoformat()}')" for i in range(rows))
    admin(f"insert into sales values {values}", database)


def test_partition_that_appears_turns_fail_into_pass(sales: str, warehouse: str) -> None:
    load(warehouse, "2026-02-28", 2, NOW - timedelta(days=1))
    before = run(sales, {"query": PARTITION_QUERY, "rules": RULES})
    assert before.status is TraitStatus.FAIL
    assert before.reason == "rule 1 (n gte 1) did not hold: n is 0"
    assert before.value == {"rows": 1, "row": {"n": 0, "loaded_at": None}}

    load(warehouse, DAY, 3, NOW - timedelta(minutes=10))
    after = run(sales, {"query": PARTITION_QUERY, "rules": RULES})
    assert after.status is TraitStatus.PASS, after.reason
    assert after.value == {"rows": 1, "row": {"n": 3, "loaded_at": "2026-03-01T11:50:00+00:00"}}


def test_stale_loaded_at_fails_naming_its_age(sales: str, warehouse: str) -> None:
    load(warehouse, DAY, 5, NOW - timedelta(hours=3))
    out = run(sales, {"query": PARTITION_QUERY, "rules": RULES})
    assert out.status is TraitStatus.FAIL
    assert out.reason == ("rule 2 (loaded_at age_lt '1h') did not hold: "
                          "loaded_at is 2026-03-01T09:00:00+00:00, age 3h0m0s")


def test_without_rules_the_first_column_decides_like_sqlsensor(sales: str, warehouse: str) -> None:
    query = "select count(*) as n from sales where day = :date"
    assert run(sales, {"query": query}).status is TraitStatus.FAIL
    load(warehouse, DAY, 1, NOW)
    out = run(sales, {"query": query})
    assert (out.status, out.reason) == (TraitStatus.PASS, "first column n is 1")
    empty = run(sales, {"query": "select day from sales where day = :date and amount < 0"})
    assert (empty.status, empty.reason) == (TraitStatus.FAIL, "query returned no rows")


def test_query_that_runs_past_the_timeout_is_cancelled_as_transient(sales: str) -> None:
    out = run(sales, {"query": "select pg_sleep(5) is not null as slept"}, timeout=0.5)
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.TRANSIENT)
    assert out.reason == "builtin:sql: query timed out after 0.5s (statement_timeout) [57014]"


def test_role_that_cannot_log_in_is_permanent(warehouse: str) -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    out = run(url_for(warehouse, user="nobody_here", password=secret), {"query": "select 1 as one"})
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert 'role "nobody_here" does not exist' in (out.reason or "")
    assert secret not in (out.reason or "")


def test_role_without_select_permission_is_permanent(sales: str, warehouse: str) -> None:
    role = f"reader_{uuid.uuid4().hex[:8]}"
    admin(f"create role {role} login password 'not-checked-under-trust'")
    try:
        out = run(url_for(warehouse, user=role, password="not-checked-under-trust"),
                  {"query": "select count(*) as n from sales"})
        assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
        assert out.reason == "builtin:sql: permission denied for table sales [42501]"
        assert "not-checked-under-trust" not in (out.reason or "")
    finally:
        from interlock.evaluators.sql import dispose_pools

        dispose_pools()
        admin(f"drop role {role}")


def test_unreachable_server_is_transient(warehouse: str) -> None:
    out = run(url_for(warehouse, port=1), {"query": "select 1 as one"})
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.TRANSIENT)
    assert "Connection refused" in (out.reason or "")


def test_unknown_column_in_query_is_permanent(sales: str) -> None:
    out = run(sales, {"query": "select nope from sales"})
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert out.reason == 'builtin:sql: column "nope" does not exist LINE 2: select nope from sales [42703]'


def test_rule_on_a_column_the_query_does_not_return_is_permanent(sales: str) -> None:
    out = run(sales, {"query": "select count(*) as n from sales", "rules": [{"field": "rows", "check": "gt",
                                                                             "value": 0}]})
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert out.reason == "rules name rows, which the query does not return (columns: n)"


def test_the_transaction_is_read_only_even_for_a_function_the_check_lets_through(sales: str,
                                                                                  warehouse: str) -> None:
    admin("create sequence s", warehouse)
    out = run(sales, {"query": "select nextval('s') as n"})
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert out.reason == ('builtin:sql: cannot execute nextval() in a read-only transaction [25006]')


@pytest.mark.parametrize("hostile", [
    "2026-03-01' or '1'='1",
    "2026-03-01'; drop table sales; --",
    "x' union select 1 --",
    "$$; drop table sales; $$",
    ":pipelineId",
])
def test_templated_values_are_bound_never_pasted(sales: str, warehouse: str, hostile: str) -> None:
    load(warehouse, DAY, 2, NOW)
    out = run(sales, {"query": "select count(*) as n, :date as seen from sales where day::text = :date"},
              date=hostile)
    assert out.status is TraitStatus.FAIL
    assert out.value == {"rows": 1, "row": {"n": 0, "seen": hostile}}
    intact = run(sales, {"query": "select count(*) as n from sales"})
    assert intact.value == {"rows": 1, "row": {"n": 2}}


def test_all_period_values_are_bind_parameters(sales: str) -> None:
    out = run(sales, {"query": "select :date as d, :period as p, :pipelineId as pipeline, :scheduleId as s, "
                               "'10:30' as colon_in_a_string, (:date)::date as cast_day"})
    assert out.status is TraitStatus.PASS
    assert out.value is not None and out.value["row"] == {
        "d": DAY, "p": DAY, "pipeline": "sales-daily", "s": "daily", "colon_in_a_string": "10:30",
        "cast_day": DAY}


def test_unset_url_variable_is_permanent_and_named() -> None:
    ctx = BuiltinContext(MemoryStore(), FrozenClock(NOW), environ={})
    out = BuiltinEvaluator("sql", ctx).evaluate(EvaluationRequest("p", "t", {
        "url": "${INTERLOCK_NOT_SET}", "query": "select 1 as one"}), 5.0)
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert out.reason == ("environment variable INTERLOCK_NOT_SET is not set (it holds the database URL of "
                          "builtin:sql)")


def test_evaluations_reuse_one_pooled_connection(sales: str, warehouse: str) -> None:
    pids = {run(sales, {"query": "select pg_backend_pid() as pid"}).value["row"]["pid"]  # type: ignore[index]
            for _ in range(5)}
    assert len(pids) == 1
    counted = run(sales, {"query": "select count(*) as n from pg_stat_activity "
                                   "where application_name = 'interlock builtin:sql' and datname = current_database()"})
    assert counted.value == {"rows": 1, "row": {"n": 1}}


def _child_pid(url: str, queue: Any) -> None:
    queue.put(run(url, {"query": "select pg_backend_pid() as pid"}).value["row"]["pid"])  # type: ignore[index]


def test_a_forked_process_opens_its_own_connection(sales: str) -> None:
    parent = run(sales, {"query": "select pg_backend_pid() as pid"}).value["row"]["pid"]  # type: ignore[index]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_pid, args=(sales, queue))
    child.start()
    child_pid = queue.get(timeout=30)
    child.join(timeout=30)
    assert child.exitcode == 0
    assert child_pid != parent
    again = run(sales, {"query": "select pg_backend_pid() as pid"}).value["row"]["pid"]  # type: ignore[index]
    assert again == parent  # the parent's pooled connection survived the child


def test_a_pooled_connection_the_server_closed_is_replaced_without_an_error(sales: str) -> None:
    first = run(sales, {"query": "select pg_backend_pid() as pid"}).value["row"]["pid"]  # type: ignore[index]
    admin(f"select pg_terminate_backend({first})")
    out = run(sales, {"query": "select pg_backend_pid() as pid"})
    assert out.status is TraitStatus.PASS, out.reason
    assert out.value is not None and out.value["row"]["pid"] != first


def test_a_large_result_is_read_only_up_to_the_limit(sales: str) -> None:
    out = run(sales, {"query": "select n from generate_series(100000, 1, -1) as n"})
    assert out.status is TraitStatus.PASS
    assert out.value == {"rows": 1000, "row": {"n": 100000}, "moreRows": True}


def test_a_database_other_than_postgres_is_refused_saying_so() -> None:
    out = run("mysql+pymysql://u:p@127.0.0.1/db", {"query": "select 1 as one"})
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert out.reason == ("builtin:sql: this version queries PostgreSQL only (postgresql:// or "
                          "postgresql+psycopg2:// URLs); got a mysql+pymysql URL")


def test_a_driver_that_is_not_installed_is_permanent() -> None:
    out = run("postgresql+psycopg://u@127.0.0.1/db", {"query": "select 1 as one"})
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert out.reason is not None and out.reason.startswith("builtin:sql: the database driver for this URL is not "
                                                            "installed")
