"""Evaluator overhead, each against a baseline measured in the same run:

* a subprocess evaluator (JSON in, JSON out, process group, timeout) against spawning /bin/true
  and the same script with the same subprocess module;
* ``builtin:sql`` running ``SELECT 1`` through its pool (query check, bind parameters, read-only
  session, statement timeout, result to a trait value) against ``SELECT 1`` on a bare open
  psycopg2 connection (goal: at most 1.5x);
* ``builtin:object-exists`` on moto (in-process S3): one key, and a prefix of 2 500 keys, against
  the boto3 calls it makes (``head_object``, a paginated ``list_objects_v2``) issued directly.

    python -m bench.evaluator_overhead [--runs 300] [--pg postgresql+psycopg2://postgres@127.0.0.1/postgres]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import write_result
from interlock.clock import FrozenClock
from interlock.evaluators.base import EvaluationRequest
from interlock.evaluators.builtin import BuiltinContext, BuiltinEvaluator
from interlock.evaluators.subprocess import SubprocessEvaluator
from interlock.store.memory import MemoryStore

EVALUATOR = "#!/bin/sh\ncat > /dev/null\necho '{\"status\":\"PASS\"}'\n"


PG_URL = os.environ.get("INTERLOCK_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
S3_KEYS = 2500


def p50_ms(action: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def sql_figures(runs: int, url: str) -> dict[str, Any]:
    """``SELECT 1`` through builtin:sql's pool vs on a bare psycopg2 connection, interleaved."""
    import psycopg2
    from sqlalchemy.engine import make_url

    ctx = BuiltinContext(MemoryStore(), FrozenClock(datetime.now(UTC)), environ={"INTERLOCK_BENCH_URL": url})
    evaluator = BuiltinEvaluator("sql", ctx)
    request = EvaluationRequest("bench", "t", {"url": "${INTERLOCK_BENCH_URL}", "query": "select 1 as one",
                                               "date": "2026-03-01", "scheduleId": "daily"})
    assert evaluator.evaluate(request, 10).status.value == "PASS"  # opens the pool's connection
    parts = make_url(url)
    bare = psycopg2.connect(host=parts.host, port=parts.port or 5432, user=parts.username,
                            password=parts.password, dbname=parts.database)
    bare.autocommit = True
    cursor = bare.cursor()

    def plain() -> None:
        cursor.execute("select 1 as one")
        cursor.fetchall()

    ours, baseline = [], []
    for _ in range(runs):  # interleaved, so both see the same machine
        baseline.append(p50_ms(plain, 1))
        ours.append(p50_ms(lambda: evaluator.evaluate(request, 10), 1))
    bare.close()
    ours_p50, baseline_p50 = statistics.median(ours), statistics.median(baseline)
    return {"sql_select1_bare_connection_ms_p50": round(baseline_p50, 3),
            "sql_select1_builtin_pool_ms_p50": round(ours_p50, 3),
            "sql_builtin_vs_bare": round(ours_p50 / baseline_p50, 2)}


def s3_figures(runs: int) -> dict[str, Any]:
    """builtin:object-exists on moto against the boto3 calls it makes, issued directly."""
    from moto import mock_aws

    for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        os.environ.setdefault(key, value)
    with mock_aws():
        import boto3

        from interlock.evaluators import objects

        objects.forget_clients()
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket="bench", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        client.put_object(Bucket="bench", Key="one/_SUCCESS", Body=b"")
        for i in range(S3_KEYS):
            client.put_object(Bucket="bench", Key=f"many/part-{i:05d}", Body=b"x")
        ctx = BuiltinContext(MemoryStore(), FrozenClock(datetime.now(UTC)))
        evaluator = BuiltinEvaluator("object-exists", ctx)

        def request(url: str) -> EvaluationRequest:
            return EvaluationRequest("bench", "t", {"url": url, "date": "2026-03-01", "scheduleId": "daily"})

        key, prefix = request("s3://bench/one/_SUCCESS"), request("s3://bench/many/")
        assert evaluator.evaluate(key, 10).status.value == "PASS"

        def listing() -> None:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix="many/"):
                page.get("Contents")

        few = max(5, runs // 20)  # a 2 500-key listing on moto takes tens of ms
        figures = {
            "s3_key_head_object_ms_p50": p50_ms(lambda: client.head_object(Bucket="bench", Key="one/_SUCCESS"), runs),
            "s3_key_object_exists_ms_p50": p50_ms(lambda: evaluator.evaluate(key, 10), runs),
            "s3_prefix_2500_list_ms_p50": p50_ms(listing, few),
            "s3_prefix_2500_object_exists_ms_p50": p50_ms(lambda: evaluator.evaluate(prefix, 10), few),
        }
        objects.forget_clients()
    figures["s3_key_object_exists_vs_head"] = round(figures["s3_key_object_exists_ms_p50"]
                                                    / figures["s3_key_head_object_ms_p50"], 2)
    figures["s3_prefix_object_exists_vs_list"] = round(figures["s3_prefix_2500_object_exists_ms_p50"]
                                                       / figures["s3_prefix_2500_list_ms_p50"], 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--pg", default=PG_URL, help="SQLAlchemy URL of a PostgreSQL database for builtin:sql")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="interlock-bench-"))
    script = folder / "pass"
    script.write_text(EVALUATOR)
    script.chmod(0o755)
    evaluator = SubprocessEvaluator(str(script), folder)
    request = EvaluationRequest("bench", "t", {"maxLagSeconds": 60})
    # The baseline: the cheapest process start the same interpreter can do.
    baseline, ours = [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run(["/bin/true"], check=True)
        baseline.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        out = evaluator.evaluate(request, 10)
        ours.append((time.perf_counter() - start) * 1000)
        assert out.status.value == "PASS"
    shell = []
    for _ in range(args.runs):  # what the evaluator script itself costs (a shell + cat + echo)
        start = time.perf_counter()
        subprocess.run([str(script)], input=b"{}", capture_output=True, check=True)
        shell.append((time.perf_counter() - start) * 1000)
    figures = {
        "runs": args.runs,
        "bin_true_ms_p50": round(statistics.median(baseline), 3),
        "same_script_plain_subprocess_ms_p50": round(statistics.median(shell), 3),
        "subprocess_evaluator_ms_p50": round(statistics.median(ours), 3),
        "evaluator_vs_plain_script": round(statistics.median(ours) / statistics.median(shell), 2),
        "evaluator_vs_bin_true": round(statistics.median(ours) / statistics.median(baseline), 2),
        "cpus": os.cpu_count(),
    }
    figures.update(sql_figures(args.runs * 3, args.pg))
    figures.update(s3_figures(args.runs))
    for key, value in figures.items():
        print(f"{key:<40}{value:>10}")
    print(f"written to {write_result('evaluator_overhead', figures)}")


if __name__ == "__main__":
    main()
