"""The outbound policy from interlock.yaml: defaults, blockPrivate, allowHosts, and the message."""

from __future__ import annotations

import pytest

from interlock.config import load_project
from interlock.netguard import BlockedURL, OutboundPolicy, check_url
from tests.conftest import MINIMAL_CONFIG, ProjectFactory


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
    check_url("http://127.0.0.1/")  # allowed by name
    with pytest.raises(BlockedURL):
        check_url("http://10.0.0.1/")
    load_project(make_project(MINIMAL_CONFIG), env={})  # back to the defaults for the other tests
    check_url("http://10.0.0.1/")
