"""Archival throughput: store changes -> Postgres, records per second.

Baseline, measured in the same run on the same database: a plain multi-row INSERT of the same
number of rows, in batches of the same size, into a scratch table (the floor of what writing them
costs), so the figure says how much the archiver adds on top of the database itself.

    python -m bench.archive_throughput [--records 20000] [--batch-size 500]
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg2
import redis
from sqlalchemy import Column, Integer, MetaData, Table, Text

from bench.common import write_result
from interlock.archive import db as archive_db
from interlock.archive.archiver import Archiver
from interlock.model import Event, EventKind, RunState, RunStatus
from interlock.store.redis import RedisStore

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def admin(sql: str) -> None:
    conn = psycopg2.connect(ADMIN_DSN)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()

    name = f"interlock_bench_{uuid.uuid4().hex[:8]}"
    prefix = f"interlock-bench-{uuid.uuid4().hex[:8]}:"
    admin(f'CREATE DATABASE "{name}"')
    store = RedisStore(redis.Redis(decode_responses=True), prefix)
    try:
        engine = archive_db.make_engine(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}")
        archive_db.upgrade(engine)
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        started = time.perf_counter()
        for i in range(args.records):
            at = t0 + timedelta(seconds=i)
            if i % 2:
                store.append_event(Event(kind=EventKind.TRAIT_EVALUATED, pipeline_id=f"p{i % 50}", trait_type="t",
                                         status="PASS", timestamp=at, details={"value": {"i": i}}))
            else:
                store.put_run(RunState(run_id=f"r{i}", pipeline_id=f"p{i % 50}", status=RunStatus.COMPLETED,
                                       version=1, created_at=at, updated_at=at))
        write_s = time.perf_counter() - started

        started = time.perf_counter()
        result = Archiver(store, engine, prefix + "changes", batch_size=args.batch_size).run_once()
        archive_s = time.perf_counter() - started

        rows = [{"a": f"r{i}", "b": "p", "c": i} for i in range(args.records)]
        baseline = Table("baseline", MetaData(), Column("a", Text, primary_key=True), Column("b", Text),
                         Column("c", Integer))
        baseline.create(engine)
        started = time.perf_counter()
        for chunk in range(0, len(rows), args.batch_size):
            with engine.begin() as conn:
                conn.execute(baseline.insert().values(rows[chunk:chunk + args.batch_size]))
        baseline_s = time.perf_counter() - started
        engine.dispose()
    finally:
        store.purge()
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    figures = {
        "records": result.records,
        "batch_size": args.batch_size,
        "store_write_records_per_s": round(args.records / write_s),
        "archive_records_per_s": round(result.records / archive_s),
        "baseline_plain_insert_rows_per_s": round(args.records / baseline_s),
        "archive_vs_plain_insert": round((result.records / archive_s) / (args.records / baseline_s), 2),
    }
    print(f"{'measure':<36}{'value':>12}")
    for key, value in figures.items():
        print(f"{key:<36}{value:>12}")
    print(f"written to {write_result('archive_throughput', figures)}")


if __name__ == "__main__":
    main()
