"""`python -m tests.chaos [--pipelines 200] [--seed N] [--keep]`: the chaos run alone, with its figures.

Prints the table, writes bench/results/chaos.json, exits 1 when a duplicate, a lost run or a
repeated alert was found.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import write_result
from tests.chaos.scenario import ChaosConfig, report, run_chaos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pipelines", type=int, default=ChaosConfig.pipelines)
    parser.add_argument("--push-seconds", type=float, default=ChaosConfig.push_seconds)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, fired.log, AOF)")
    args = parser.parse_args()
    config = ChaosConfig(pipelines=args.pipelines, push_seconds=args.push_seconds)
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
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
