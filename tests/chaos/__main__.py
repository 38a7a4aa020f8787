"""`python -m tests.chaos [--pipelines 200] [--seed N] [--keep] [--only faults|recovery] [--failover]`: the
chaos runs alone, with their figures.

Two scenarios, one after the other: ``faults`` (tests/chaos/scenario.py: SIGKILLs, a Redis crash, a
broker outage) and ``recovery`` (tests/chaos/recovery.py: trigger workers SIGKILLed between the
claim and the start, the watchdog asking the target). Prints each table, writes
bench/results/chaos.json and chaos-recovery.json, exits 1 when a duplicate, a lost run, a repeated
alert or a kill that missed its window was found. ``--failover`` runs the Redis failover scenario
instead (tests/chaos/failover.py: a Sentinel group whose primary is SIGKILLed twice;
bench/results/chaos-failover.json).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import write_result
from tests.chaos import failover, recovery
from tests.chaos.scenario import ChaosConfig, report, run_chaos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--failover", action="store_true",
                        help="the Redis failover scenario (Sentinel, the primary SIGKILLed twice) instead")
    parser.add_argument("--pipelines", type=int, default=ChaosConfig.pipelines, help="of the faults scenario")
    parser.add_argument("--push-seconds", type=float, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folders (logs, AOF, kill markers)")
    parser.add_argument("--only", choices=("faults", "recovery"), default=None, help="run one scenario")
    args = parser.parse_args()
    if args.failover:
        fconfig = failover.FailoverConfig(pipelines=args.pipelines)
        if args.push_seconds is not None:
            fconfig.push_seconds = args.push_seconds
        if args.seed is not None:
            fconfig.seed = args.seed
        workdir = Path(tempfile.mkdtemp(prefix="interlock-chaos-failover-"))
        try:
            fresult = failover.run_failover(fconfig, workdir)
        finally:
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
        print(failover.report(fresult))
        print(f"written to {write_result('chaos-failover', fresult.figures())}")
        return 0 if fresult.ok else 1
    ok = True
    if args.only in (None, "faults"):
        config = ChaosConfig(pipelines=args.pipelines)
        if args.push_seconds is not None:
            config.push_seconds = args.push_seconds
        if args.seed is not None:
            config.seed = args.seed
        workdir = Path(tempfile.mkdtemp(prefix="interlock-chaos-"))
        try:
            outcome = run_chaos(config, workdir)
        finally:
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
        print(report(outcome))
        print(f"written to {write_result('chaos', outcome.figures())}")
        ok = ok and outcome.ok
    if args.only in (None, "recovery"):
        settings = recovery.RecoveryConfig()
        if args.seed is not None:
            settings.seed = args.seed
        workdir = Path(tempfile.mkdtemp(prefix="interlock-chaos-recovery-"))
        try:
            found = recovery.run_recovery(settings, workdir)
        finally:
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
        print(recovery.report(found))
        print(f"written to {write_result('chaos-recovery', found.figures())}")
        ok = ok and found.ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
