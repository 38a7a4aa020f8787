"""The outbound policy from interlock.yaml: defaults, blockPrivate, allowHosts, and the message."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from interlock.clock import FrozenClock
from interlock.config import ConfigInvalid, load_project
from interlock.evaluators.base import EvaluationRequest
from interlock.model import RunStatus, TraitStatus
from interlock.netguard import BlockedURL, OutboundPolicy, check_url
from interlock.steps.deps import Deps, build_deps, register_project_pipelines
from interlock.steps.runs import trigger
from interlock.store.redis import RedisStore
from tests.conftest import MINIMAL_CONFIG, SIMPLE_ARCHETYPE, ProjectFactory


def test_defaults_refuse_metadata_and_link_local_but_allow_loopback_and_private() -> None:
    rules = OutboundPolicy()
    for url in ("http://169.254.169.254/", "http://[fe80::1]/", "http://metadata.google.internal/",
                "http://[::ffff:169.254.169.254]/"):
        with pytest.raises(BlockedURL, match=r"security\.outbound\.allowHosts"):
            check_url(url, using=rules)
    for url in ("http://127.0.0.1:8080/", "http://10.1.2.3/", "http://192.168.0.10/", "http://[::1]/"):
        check_url(url, using=rules)


def test_block_private_refuses_loopback_and_private_ranges() -> None:
    rules = OutboundPolicy(block_private=True)
    for url in ("http://127.0.0.1:8080/", "http://10.1.2.3/", "http://[::1]/"):
        with pytest.raises(BlockedURL, match="private address"):
            check_url(url, using=rules)
    check_url("http://8.8.8.8/", using=rules)


def test_allow_hosts_wins_over_every_rule() -> None:
    rules = OutboundPolicy(block_private=True, allow_hosts=frozenset({"10.1.2.3", "169.254.169.254"}))
    check_url("http://10.1.2.3/", using=rules)
    check_url("http://169.254.169.254/", using=rules)


def test_the_policy_comes_from_interlock_yaml(make_project: ProjectFactory) -> None:
    path = make_project(MINIMAL_CONFIG + "security:\n  outbound: {blockPrivate: true, allowHosts: [127.0.0.1]}\n")
    project = load_project(path, env={})
    assert project.config.outbound_policy() == OutboundPolicy(False, True, frozenset({"127.0.0.1"}))


def test_loading_a_project_leaves_the_process_policy_alone(make_project: ProjectFactory) -> None:
    load_project(make_project(MINIMAL_CONFIG + "security:\n  outbound: {blockPrivate: true}\n"), env={})
    check_url("http://10.0.0.1/")  # judged by the defaults: the project's policy travels with the project


def test_a_webhook_in_interlock_yaml_is_judged_by_that_files_policy(make_project: ProjectFactory) -> None:
    hook = "alerts:\n  - {type: webhook, url: 'http://10.0.0.1/hook'}\n"
    with pytest.raises(ConfigInvalid) as exc:
        load_project(make_project(MINIMAL_CONFIG + hook + "security:\n  outbound: {blockPrivate: true}\n"), env={})
    assert [(e.path, "private address" in e.message) for e in exc.value.errors] == [("alerts[0].url", True)]
    load_project(make_project(MINIMAL_CONFIG + hook), env={})  # the defaults allow a private address


PIPELINE = """\
name: orders
archetype: simple
traits:
  freshness: {evaluator: 'http://127.0.0.1:9/check'}
trigger:
  type: http
  http: {url: 'http://127.0.0.1:9/start'}
"""


def _deps(make_project: ProjectFactory, store: RedisStore, security: str) -> Deps:
    path = make_project(MINIMAL_CONFIG + security, archetypes__simple_yaml=SIMPLE_ARCHETYPE,
                        pipelines__orders_yaml=PIPELINE)
    project = load_project(path, env={})
    register_project_pipelines(project, store)
    return build_deps(project, store=store, clock=FrozenClock(datetime(2026, 3, 2, 12, tzinfo=UTC)))


@pytest.mark.integration
def test_the_projects_policy_reaches_its_http_triggers_and_evaluators(make_project: ProjectFactory,
                                                                       store: RedisStore) -> None:
    deps = _deps(make_project, store, "security:\n  outbound: {blockPrivate: true}\n")
    run = trigger(deps, "orders", "daily", "2026-03-02", 1)
    assert run.status is RunStatus.FAILED and "private address" in str(run.metadata["failure"])
    request = EvaluationRequest(pipeline_id="orders", trait_type="freshness", config={})
    out = deps.runner.run("http://127.0.0.1:9/check", request, 5)
    assert out.status is TraitStatus.ERROR and "private address" in (out.reason or "")


@pytest.mark.integration
def test_two_projects_in_one_process_each_keep_their_policy(make_project: ProjectFactory, store: RedisStore) -> None:
    strict = _deps(make_project, store, "security:\n  outbound: {blockPrivate: true}\n")
    lenient = _deps(make_project, store, "")  # loaded last: a process-wide policy would now be the lenient one
    refused = trigger(strict, "orders", "daily", "2026-03-02", 1)
    assert refused.status is RunStatus.FAILED and "private address" in str(refused.metadata["failure"])
    tried = trigger(lenient, "orders", "daily", "2026-03-03", 1)
    assert tried.status is RunStatus.FAILED and "private address" not in str(tried.metadata["failure"])  # port 9
