"""The reconcile step: the level-triggered loop that makes correctness independent of messages.

Beat runs it every few seconds. It reads only what is *due* from the due index (so its cost
grows with due work, not with the number of pipelines), pushes each item's due time forward by a
lease (so a lost task comes back, but a slow one is not sent twice), and asks for the step.
A Redis lock keeps a second Beat from reconciling at the same time. Each pass first checks the
store epoch (one read): a store that was wiped or swapped is healed before its due list is read.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from interlock import gauges
from interlock.model import PipelineConfig
from interlock.steps import epoch, keys
from interlock.steps.deps import Deps

log = logging.getLogger(__name__)

# How long a dispatched item stays out of the due list unless its step reschedules it.
LEASE = timedelta(seconds=60)
# Items dispatched per pass at most; the rest wait for the next pass.
BATCH = 5000
LOCK_KEY = "reconcile"


def reconcile(deps: Deps, batch: int = BATCH) -> int:
    """Dispatch everything due now; return how many items were dispatched."""
    lock = deps.store.acquire_lock(LOCK_KEY, LEASE.total_seconds())
    if lock is None:
        return 0
    try:
        epoch.verify(deps)
        now = deps.clock.now()
        work = []
        for item in deps.store.due(now, batch):
            parsed = keys.parse(item.key)
            if parsed is None:
                log.warning("reconcile: dropping unknown due key %r", item.key)
                deps.store.clear_due(item.key)
                continue
            work.append((item.key, parsed))
        # One round trip leases every item; then the steps are asked for.
        deps.store.set_due_many([key for key, _ in work], now + LEASE)
        for _, (step, kwargs) in work:
            deps.dispatch.sweep(step, **kwargs)
        gauges.note_reconcile_pass(deps.store, now)  # /metrics: interlock_reconcile_last_pass_timestamp_seconds
        return len(work)
    finally:
        deps.store.release_lock(lock)


def ensure_scheduled(deps: Deps, pipelines: list[PipelineConfig] | None = None) -> int:
    """Give every (pipeline, schedule) with no advance (or SLA) due entry one, due now; return how many.

    Run when pipelines are registered (start-up of workers and Beat, API registration), not on every
    pass; ``pipelines`` limits it to those. A few round trips in all (``add_due_many``), not one per key.
    """
    from interlock.sla import has_sla

    wanted = []
    for pipeline in deps.store.list_pipelines() if pipelines is None else pipelines:
        for schedule in pipeline.schedule_list():
            wanted.append(keys.advance_key(pipeline.name, schedule.name))
            if has_sla(pipeline, schedule):
                wanted.append(keys.sla_key(pipeline.name, schedule.name))
    return deps.store.add_due_many(wanted, deps.clock.now())
