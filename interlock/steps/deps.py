"""What every step needs: the project, the store, the clock, the evaluator runner, the alerts.

Every entry point (CLI, Celery workers and Beat, API, Lambda handlers, the demo) gets its Deps from
:func:`build_deps`, so they all open the store, build the alert sinks and apply the project's
outbound policy the same way.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, TextIO

from interlock.alerts import AlertDispatcher, build_sinks
from interlock.alerts.base import Sink
from interlock.clock import SYSTEM, Clock
from interlock.config import Project
from interlock.errors import UnknownArchetype, UnknownPipeline, UnknownRun
from interlock.evaluators.runner import EvaluatorRunner
from interlock.model import Archetype, PipelineConfig, RunState, RunStatus
from interlock.netguard import OutboundPolicy
from interlock.steps.dispatch import Dispatcher, RecordingDispatcher
from interlock.steps.prior_runs import RunHistory, default_history
from interlock.store.base import RegistrationLedger, Store
from interlock.store.factory import open_store

if TYPE_CHECKING:
    from interlock.steps.epoch import Seen

log = logging.getLogger(__name__)

# Pipelines a RegistrationLedger store registers per call (a few round trips each).
REGISTER_CHUNK = 1000


@dataclass
class Deps:
    project: Project
    store: Store
    clock: Clock = SYSTEM
    runner: EvaluatorRunner = field(default=None)  # type: ignore[assignment]
    alerts: AlertDispatcher = field(default=None)  # type: ignore[assignment]
    dispatch: Dispatcher = field(default_factory=RecordingDispatcher)
    # Who may know that a period already ran when the store forgot it (see steps/prior_runs.py).
    history: list[RunHistory] = field(default=None)  # type: ignore[arg-type]
    # The store epoch this process works with (see steps/epoch.py); None until first checked.
    seen_epoch: Seen | None = None

    def __post_init__(self) -> None:
        if self.runner is None:
            self.runner = EvaluatorRunner(self.project, self.store, self.clock)
        if self.alerts is None:
            sinks = build_sinks(self.project.config.alerts or [], self.project.root, outbound=self.outbound,
                                store=self.store, thread_ttl=self.project.settings.retention_ttl)
            self.alerts = AlertDispatcher(self.store, sinks, clock=self.clock, ttl=self.project.settings.retention_ttl)
        if self.history is None:
            self.history = default_history(self.project)
        if self.alerts.shadow is None:
            self.alerts.shadow = self.is_shadow

    def is_shadow(self, pipeline: str | None) -> bool:
        """Whether ``pipeline`` runs in shadow mode: its own ``dryRun``, else the deployment's."""
        if pipeline is None:
            return False
        try:
            config = self.pipeline(pipeline)
        except UnknownPipeline:
            return False
        return shadow_of(self.project, config)

    @property
    def outbound(self) -> OutboundPolicy:
        """The project's outbound (SSRF) policy, for the triggers and sinks these Deps drive."""
        return self.project.config.outbound_policy()

    def with_dispatch(self, dispatch: Dispatcher) -> Deps:
        """The same Deps (store, runner, alerts, history) asking for next steps through ``dispatch``."""
        return dataclasses.replace(self, dispatch=dispatch)

    def pipeline(self, name: str) -> PipelineConfig:
        """The registered pipeline (the store is the source of truth at run time); raises UnknownPipeline."""
        return self.store.get_pipeline(name)

    def archetype(self, pipeline: PipelineConfig) -> Archetype:
        """The pipeline's archetype as this process loaded it; raises UnknownArchetype."""
        found = self.project.archetypes.get(pipeline.archetype)
        if found is None:
            raise UnknownArchetype(pipeline.name, pipeline.archetype)
        return found

    def check_interval(self, pipeline: PipelineConfig) -> timedelta:
        """How often a NOT_READY pipeline is evaluated again: ``watch.interval``, else the default."""
        if pipeline.watch and pipeline.watch.interval is not None:
            return pipeline.watch.interval
        return self.project.settings.watch_interval

    def poll_interval(self, pipeline: PipelineConfig) -> timedelta:
        """How often a running job is polled: ``trigger.pollInterval``, else the check interval."""
        if pipeline.trigger and pipeline.trigger.poll_interval is not None:
            return pipeline.trigger.poll_interval
        return self.check_interval(pipeline)


def shadow_of(project: Project, config: PipelineConfig) -> bool:
    """A pipeline's ``dryRun`` when it says one, else ``interlock.yaml``'s (a pipeline may opt out with false)."""
    return config.dry_run if config.dry_run is not None else project.config.dry_run


def watched_run(deps: Deps, run_id: str, due_key: str,
                statuses: Collection[RunStatus]) -> tuple[RunState | None, bool]:
    """Load a run a due entry watches; (run, True) when it is in ``statuses``.

    A run that is gone or has moved on no longer needs watching: its due entry is cleared and
    (run or None, False) returned.
    """
    try:
        run = deps.store.get_run(run_id)
    except UnknownRun:
        deps.store.clear_due(due_key)
        return None, False
    if run.status not in statuses:
        deps.store.clear_due(due_key)
        return run, False
    return run, True


def build_deps(project: Project, dispatch: Dispatcher | None = None, *, store: Store | None = None,
               clock: Clock | None = None, console: TextIO | None = None, sinks: Sequence[Sink] = ()) -> Deps:
    """The Deps an entry point runs the steps with; nothing is registered or pinged here.

    ``dispatch``: how a step asks for the next one (default: recorded, left to the due index).
    ``store``: default, the store the project's ``provider`` names (:func:`interlock.store.factory.open_store`).
    ``clock``: default, the system clock. ``console``: where a ``console`` alert sink writes
    (default stdout; the CLI passes stderr). ``sinks``: alert sinks beyond the project's
    ``alerts:`` (the Lambda's SNS topic). Webhook sinks, HTTP evaluators and triggers are judged
    by the project's ``security.outbound`` policy.
    """
    clock = clock or SYSTEM
    store = store if store is not None else open_store(project, clock)
    policy = project.config.outbound_policy()
    all_sinks = [*build_sinks(project.config.alerts or [], project.root, console=console, outbound=policy,
                              store=store, thread_ttl=project.settings.retention_ttl), *sinks]
    dispatch = dispatch if dispatch is not None else RecordingDispatcher()
    # A dispatcher that queues steps for workers (``queued``) gets the alert deliveries queued too;
    # any other delivers in the process that raised the alert (interlock/alerts/outbox.py).
    defer = None
    if getattr(dispatch, "queued", False):
        def defer(delivery_id: str) -> None:
            dispatch.send("deliver_alert", delivery_id=delivery_id)
    alerts = AlertDispatcher(store, all_sinks, clock=clock, ttl=project.settings.retention_ttl, defer=defer)
    return Deps(project, store, clock, alerts=alerts, dispatch=dispatch)


def register_project_pipelines(project: Project, store: Store, names: Collection[str] | None = None, *,
                               progress: Callable[[int, int], None] | None = None) -> int:
    """Upsert the pipelines defined in the project's files into the store; return how many there are.

    Only those whose file changed since it was registered are written when the store keeps a
    :class:`~interlock.store.base.RegistrationLedger` (one read of the ledger, then one write per
    changed pipeline, sent a thousand at a time); otherwise all of them, one by one. ``names``: only
    these (those not in the files are left alone). ``progress(written, to_write)`` is called after
    every thousand and at the end.
    """
    wanted = list(project.pipelines) if names is None else [n for n in names if n in project.pipelines]
    ledger = store if isinstance(store, RegistrationLedger) else None
    if ledger is not None:
        known = ledger.pipeline_digests(None if names is None else wanted)
        todo = [n for n in wanted if project.digests.get(n) is None or known.get(n) != project.digests[n]]
    else:
        todo = wanted
    for start in range(0, len(todo), REGISTER_CHUNK):
        chunk = [project.pipelines[name] for name in todo[start:start + REGISTER_CHUNK]]
        if ledger is not None:
            ledger.register_pipeline_files([(config, project.digests.get(config.name)) for config in chunk])
        else:
            for config in chunk:
                store.register_pipeline(config)
        if progress:
            progress(start + len(chunk), len(todo))
    if progress and not todo:
        progress(0, 0)
    return len(wanted)


def register_in_background(project: Project, store: Store, who: str,
                           then: Callable[[int], None] | None = None) -> threading.Thread:
    """:func:`register_project_pipelines` on a thread of its own, its progress logged; ``then(count)`` after.

    For a process that answers meanwhile (the API server, a worker already consuming): registering
    is idempotent, and a pipeline not registered yet is known from the project's files (the step
    requests look there, interlock.steps.requests).
    """
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        if total:
            log.info("%s: registering pipelines whose file changed: %d of %d", who, done, total)

    def run() -> None:
        try:
            count = register_project_pipelines(project, store, progress=progress)
            log.info("%s: %d pipelines registered (%.1f s)", who, count, time.monotonic() - started)
            if then is not None:
                then(count)
        except Exception:  # the next start tries again; the other processes register too
            log.exception("%s: registering the project's pipelines failed", who)

    thread = threading.Thread(target=run, name=f"interlock-register-{who}", daemon=True)
    thread.start()
    return thread
