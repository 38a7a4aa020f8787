"""`python -m tests.chaos [--failover] [--pipelines 200] [--seed N] [--keep]`: a chaos run alone, with its figures.

Prints the table, writes bench/results/chaos.json (``--failover``: the Redis failover scenario,
bench/results/chaos-failover.json), exits 1 when a duplicate, a lost run or a repeated alert was
found.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import write_result
from tests.chaos import failover
from tests.chaos.scenario import ChaosConfig, report, run_chaos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--failover", action="store_true",
                        help="the Redis failover scenario (Sentinel, the primary SIGKILLed twice) instead")
    parser.add_argument("--pipelines", type=int, default=ChaosConfig.pipelines)
    parser.add_argument("--push-seconds", type=float, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, fired.log, AOF)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="interlock-chaos-"))
    if args.failover:
        fconfig = failover.FailoverConfig(pipelines=args.pipelines)
        if args.push_seconds is not None:
            fconfig.push_seconds = args.push_seconds
        if args.seed is not None:
            fconfig.seed = args.seed
        try:
            fresult = failover.run_failover(fconfig, workdir)
        finally:
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
        print(failover.report(fresult))
        print(f"written to {write_result('chaos-failover', fresult.figures())}")
        return 0 if fresult.ok else 1
    config = ChaosConfig(pipelines=args.pipelines)
    if args.push_seconds is not None:
        config.push_seconds = args.push_seconds
    if args.seed is not None:
        config.seed = args.seed
    try:
        outcome = run_chaos(config, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(report(outcome))
    print(f"written to {write_result('chaos', outcome.figures())}")
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
