"""What every step needs: the project, the store, the clock, the evaluator runner, the alerts."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta

from interlock.alerts import AlertDispatcher, build_sinks
from interlock.clock import SYSTEM, Clock
from interlock.config import Project
from interlock.errors import UnknownArchetype, UnknownRun
from interlock.evaluators.runner import EvaluatorRunner
from interlock.model import Archetype, PipelineConfig, RunState, RunStatus
from interlock.steps.dispatch import Dispatcher, RecordingDispatcher
from interlock.store.base import Store


@dataclass
class Deps:
    project: Project
    store: Store
    clock: Clock = SYSTEM
    runner: EvaluatorRunner = field(default=None)  # type: ignore[assignment]
    alerts: AlertDispatcher = field(default=None)  # type: ignore[assignment]
    dispatch: Dispatcher = field(default_factory=RecordingDispatcher)

    def __post_init__(self) -> None:
        if self.runner is None:
            self.runner = EvaluatorRunner(self.project, self.store, self.clock)
        if self.alerts is None:
            self.alerts = AlertDispatcher(self.store, build_sinks(self.project.config.alerts or [], self.project.root))

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


def register_project_pipelines(project: Project, store: Store) -> int:
    """Upsert every pipeline defined in the project's files into the store; return how many."""
    for pipeline in project.pipelines.values():
        store.register_pipeline(pipeline)
    return len(project.pipelines)
