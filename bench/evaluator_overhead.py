"""Evaluator overhead: a subprocess evaluator (JSON in, JSON out, process group, timeout) against
spawning /bin/true with the same subprocess module, measured in the same run.

    python -m bench.evaluator_overhead [--runs 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import write_result
from interlock.evaluators.base import EvaluationRequest
from interlock.evaluators.subprocess import SubprocessEvaluator

EVALUATOR = "#!/bin/sh\ncat > /dev/null\necho '{\"status\":\"PASS\"}'\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
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
    for key, value in figures.items():
        print(f"{key:<40}{value:>10}")
    print(f"written to {write_result('evaluator_overhead', figures)}")


if __name__ == "__main__":
    main()
