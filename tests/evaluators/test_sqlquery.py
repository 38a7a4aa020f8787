"""The ``builtin:sql`` query check: one read statement, period values only as bind parameters."""

from __future__ import annotations

import pytest

from interlock.evaluators.sqlquery import QueryProblem, prepare


@pytest.mark.parametrize(("query", "sql", "binds"), [
    ("select count(*) as n from sales where day = :date", "select count(*) as n from sales where day = (:date)",
     ("date",)),
    ("SELECT 1;", "SELECT 1", ()),
    ("select 1; -- done\n", "select 1", ()),
    ("with x as (select :period as p) select * from x", "with x as (select (:period) as p) select * from x",
     ("period",)),
    ("values (:pipelineId, :scheduleId)", "values ((:pipelineId), (:scheduleId))", ("pipelineId", "scheduleId")),
    ("select :date::date", "select (:date)::date", ("date",)),
    ("select '10:30' as t, x::text from y", "select '10\\:30' as t, x::text from y", ()),
    ("select $$a;b:c$$ as s", "select $$a;b\\:c$$ as s", ()),
    ("select \"update\" from t", "select \"update\" from t", ()),
    ("select 'insert; delete' as s", "select 'insert; delete' as s", ()),
    ("/* delete */ select arr[1:2] from t", "/* delete */ select arr[1:2] from t", ()),
    ("select updated_at, deleted from t", "select updated_at, deleted from t", ()),
    ("(select 1)", "(select 1)", ()),
])
def test_read_statements_are_prepared_with_bound_values(query: str, sql: str, binds: tuple[str, ...]) -> None:
    prepared = prepare(query)
    assert (prepared.sql, prepared.binds) == (sql, binds)


@pytest.mark.parametrize(("query", "message"), [
    ("", "non-empty SQL SELECT"),
    ("-- nothing\n", "no statement"),
    ("delete from sales", "read statement starting with SELECT, WITH, VALUES or TABLE; it starts with DELETE"),
    ("select 1; select 2", "single statement"),
    ("select 1; drop table sales", "single statement"),
    ("with d as (delete from sales returning *) select * from d", "DELETE is not allowed"),
    ("select * into backup from sales", "INTO is not allowed"),
    ("select * from sales for update", "UPDATE is not allowed"),
    ("select set_config('statement_timeout', '0', false)", "SET_CONFIG is not allowed"),
    ("select * from sales where day = '${date}'", "${date} in a query is never expanded"),
    ("select * from t where x = ${INTERLOCK_X}", "never expanded"),
    ("select * from t where day = :day", "unknown bind parameter :day; the period's values are :date, :period"),
    ("select * from t where day = $1", "positional parameter"),
    ("select 'unterminated", "string literal is not closed"),
    ("select \"unterminated", "quoted name is not closed"),
    ("select /* never closed", "comment is not closed"),
    ("select $x$ open", "dollar-quoted string $x$ is not closed"),
    ("explain analyze select 1", "it starts with EXPLAIN"),
    ("select 1 " + "x" * 100_001, "at most 100000"),
])
def test_anything_but_one_read_statement_is_refused(query: str, message: str) -> None:
    with pytest.raises(QueryProblem) as caught:
        prepare(query)
    assert message in str(caught.value)
