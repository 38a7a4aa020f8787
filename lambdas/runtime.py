"""What every Lambda handler shares: the Deps the steps need, built once per container.

The handlers are adapters like the Celery tasks in ``workers/``: they decode an event, call the
steps in ``interlock/steps`` with these Deps, and return the small JSON the state machine routes on.

Configuration comes from the environment (the Lambda console / Terraform sets it):

* ``INTERLOCK_CONFIG`` — the project's ``interlock.yaml``, bundled in the zip
  (default ``/var/task/config/interlock.yaml``); the same file the local deployment uses.
* ``TABLE_NAME`` — the DynamoDB table of the store.
* ``SNS_TOPIC_ARN`` — when set, every alert is also published to this topic.
* ``STATE_MACHINE_ARN`` — the lifecycle state machine, for handlers that start executions.
* ``LIFECYCLE_TOPIC_ARN`` — where the stream-router publishes PIPELINE_COMPLETED / PIPELINE_FAILED
  (empty: not published).

Only a successful build is cached: a container whose first build failed (a throttled DynamoDB, a
config being deployed) tries again on its next invocation instead of failing until it is recycled.
Tests inject the store, clock, project and Step Functions client with :func:`inject`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from interlock import tracing
from interlock.alerts.base import Sink
from interlock.clock import SYSTEM, Clock
from interlock.config import Project, load_project
from interlock.steps import epoch
from interlock.steps.deps import Deps, build_deps, register_project_pipelines
from interlock.store.base import Store
from interlock.store.factory import open_store
from lambdas.executions import ExecutionStarter

log = logging.getLogger(__name__)

ENV_CONFIG = "INTERLOCK_CONFIG"
ENV_TABLE = "TABLE_NAME"
ENV_ALERT_TOPIC = "SNS_TOPIC_ARN"
ENV_STATE_MACHINE = "STATE_MACHINE_ARN"
ENV_LIFECYCLE_TOPIC = "LIFECYCLE_TOPIC_ARN"
# Where the build puts the project inside the deployment zip (the Lambda task root is /var/task).
DEFAULT_CONFIG = "/var/task/config/interlock.yaml"

# The environment every handler reads; modules that start executions add ENV_STATE_MACHINE.
COMMON_ENV: tuple[str, ...] = (ENV_CONFIG, ENV_TABLE, ENV_ALERT_TOPIC)


class ConfigurationError(RuntimeError):
    """The Lambda environment is incomplete (raised, so the invocation fails and is retried)."""


@dataclass
class Runtime:
    """Deps plus a way to start lifecycle executions, for one container."""

    deps: Deps
    state_machine_arn: str | None = None
    sfn: Any = None  # the Step Functions client, made on first use
    sns: Any = None  # the SNS client for lifecycle events, made on first use

    def now(self) -> datetime:
        return self.deps.clock.now()

    def executions(self, state_machine_arn: str | None = None) -> ExecutionStarter:
        """A starter for ``state_machine_arn``, else the one ``STATE_MACHINE_ARN`` names."""
        arn = state_machine_arn or self.state_machine_arn
        if not arn:
            raise ConfigurationError(f"{ENV_STATE_MACHINE} environment variable required")
        if self.sfn is None:
            self.sfn = _sfn_client()
        return ExecutionStarter(self.sfn, arn)

    def sns_client(self) -> Any:
        if self.sns is None:
            import boto3

            self.sns = boto3.client("sns")
        return self.sns


@dataclass
class _Overrides:
    store: Store | None = None
    clock: Clock | None = None
    project: Project | None = None
    sfn: Any = None
    state_machine_arn: str | None = None


_lock = threading.Lock()
_cached: Runtime | None = None
_overrides = _Overrides()


def inject(*, store: Store | None = None, clock: Clock | None = None, project: Project | None = None,
           sfn: Any = None, state_machine_arn: str | None = None) -> None:
    """Use these instead of what the environment names (tests); forgets the cached runtime."""
    global _cached, _overrides
    with _lock:
        _overrides = _Overrides(store, clock, project, sfn, state_machine_arn)
        _cached = None


def reset() -> None:
    """Forget the cached runtime and any injected parts."""
    inject()


def runtime() -> Runtime:
    """The container's runtime, built on first use; a failed build is not cached."""
    global _cached
    with _lock:
        if _cached is None:
            _cached = _build(_overrides)
        return _cached


@contextmanager
def traced(name: str, event: dict[str, Any], **ids: Any) -> Iterator[None]:
    """A handler's span, continuing the ``traceparent`` the execution input carried (the state
    machine passes it to every Lambda task); exported before the handler returns, as a Lambda
    may be frozen right after. Off, it does nothing."""
    parent = event.get("traceparent")
    try:
        with tracing.span(name, parent if isinstance(parent, str) and parent else None, **ids):
            yield
    finally:
        tracing.flush()


def _build(overrides: _Overrides) -> Runtime:
    tracing.setup("interlock-lambda")  # on only when OTEL_* variables ask for traces
    project = overrides.project or load_project(os.environ.get(ENV_CONFIG) or DEFAULT_CONFIG)
    clock = overrides.clock or SYSTEM
    store = overrides.store or _dynamo_store(project, clock)
    sinks: list[Sink] = []
    topic = os.environ.get(ENV_ALERT_TOPIC)
    if topic:
        from interlock.alerts.aws import SnsSink

        sinks.append(SnsSink(topic))
    deps = build_deps(project, store=store, clock=clock, sinks=sinks)
    # The store is the source of truth at run time; the bundled config is what this deployment
    # runs, so every container makes sure its pipelines are registered (an idempotent upsert that
    # writes only the pipelines whose file changed: the table keeps a registration ledger),
    # after noting the store's epoch (a table found empty or swapped is healed; steps/epoch.py).
    epoch.verify(deps)
    register_project_pipelines(project, store)
    return Runtime(deps, overrides.state_machine_arn or os.environ.get(ENV_STATE_MACHINE), overrides.sfn)


def _dynamo_store(project: Project, clock: Clock) -> Store:
    table = os.environ.get(ENV_TABLE)
    if not table:
        raise ConfigurationError(f"{ENV_TABLE} environment variable required")
    return open_store(project, clock, dynamodb_table=table, region=os.environ.get("AWS_REGION"))


def _sfn_client() -> Any:
    import boto3

    return boto3.client("stepfunctions")
