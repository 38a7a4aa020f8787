"""Test-only: ``python -m tests.chaos.kill_between worker ...`` is ``interlock worker ...`` whose process
SIGKILLs itself between a run's claim and its job's start, for the pipelines the test names.

The recovery chaos scenario (tests/chaos/recovery.py) runs its trigger worker this way; nothing in
the product reads these variables. The Airflow trigger's ``start`` is wrapped:

* ``CHAOS_KILL_BEFORE`` (pipeline names, comma-separated): the pool process dies before it asks
  Airflow for the DAG run. The claim and the run log exist, the target never heard of the job:
  recovery has to start it.
* ``CHAOS_KILL_AFTER``: the process dies right after Airflow created the DAG run, before the worker
  recorded it (the reply is lost): recovery has to find it, not start a second one.

Each run is killed once: before the kill a marker ``<run id>.before`` / ``<run id>.after`` is created
(O_EXCL) in ``CHAOS_KILL_DIR``; a start that finds its marker (a recovery, in any process) goes
through. The markers are how the scenario knows which kills landed in the window.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from interlock.model import TriggerConfig
from interlock.triggers.airflow import AirflowTrigger
from interlock.triggers.base import Started, TriggerContext


def _names(variable: str) -> frozenset[str]:
    return frozenset(name for name in os.environ.get(variable, "").split(",") if name)


BEFORE, AFTER = _names("CHAOS_KILL_BEFORE"), _names("CHAOS_KILL_AFTER")
FOLDER = Path(os.environ.get("CHAOS_KILL_DIR", "."))
_real_start = AirflowTrigger.start


def _first_kill(run_id: str, when: str) -> bool:
    """Create the run's marker; False when it exists (this run was killed once already)."""
    try:
        fd = os.open(FOLDER / f"{run_id}.{when}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    os.write(fd, f"{os.getpid()}\n".encode())
    os.close(fd)
    return True


def _start(self: AirflowTrigger, config: TriggerConfig, ctx: TriggerContext) -> Started:
    when = "before" if ctx.pipeline in BEFORE else "after" if ctx.pipeline in AFTER else None
    if when is None or not _first_kill(ctx.run_id, when):
        return _real_start(self, config, ctx)
    if when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    started = _real_start(self, config, ctx)
    os.kill(os.getpid(), signal.SIGKILL)
    return started  # not reached


AirflowTrigger.start = _start  # type: ignore[method-assign]

if __name__ == "__main__":
    from interlock.cli.main import main

    main()
