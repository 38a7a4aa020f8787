"""Outbound HTTP guard: which addresses evaluators, triggers and webhooks may reach.

Evaluators, triggers and webhooks take URLs from configuration; without this, a pipeline file
could point an "evaluator" at 169.254.169.254 and read cloud credentials (SSRF).

Defaults: link-local addresses (169.254.0.0/16, fe80::/10) and cloud metadata services are
refused; loopback and private ranges are allowed (a local Airflow is normal). ``interlock.yaml``
can refuse private ranges too and name hosts that are always allowed::

    security:
      outbound:
        blockPrivate: true            # also refuse 10/8, 172.16/12, 192.168/16, 127/8, fc00::/7, ::1
        allowHosts: [airflow.internal] # exact host names or IP addresses, always allowed
        allowLinkLocal: false

There is no process-wide policy: the project's (``ProjectConfig.outbound_policy()``) is handed to
what reaches out — the evaluator runner, the trigger context, the alert sinks — so loading a
project changes nothing in the process, and two projects in one process each keep their own.
A caller that passes none gets :data:`DEFAULT_POLICY`.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Names that resolve to metadata services on the major clouds.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal"})
_METADATA_IPS = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                           ipaddress.ip_address("100.100.100.200")})
_HOW = "to allow it, add the host to security.outbound.allowHosts in interlock.yaml"


@dataclass(frozen=True)
class OutboundPolicy:
    allow_link_local: bool = False
    block_private: bool = False
    allow_hosts: frozenset[str] = field(default_factory=frozenset)


# What a URL is judged by when no project policy is given: the defaults above.
DEFAULT_POLICY = OutboundPolicy()


class BlockedURL(ValueError):
    """A URL the guard refuses, with the reason and how to allow it."""


def check_url(url: str, *, allow_link_local: bool | None = None, using: OutboundPolicy | None = None) -> None:
    """Raise BlockedURL for a non-HTTP(S) URL or a host ``using`` (default :data:`DEFAULT_POLICY`) refuses."""
    rules = using or DEFAULT_POLICY
    if allow_link_local is not None:
        rules = OutboundPolicy(allow_link_local, rules.block_private, rules.allow_hosts)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedURL(f"not an http(s) URL: {url!r}")
    host = parts.hostname.lower().rstrip(".")
    if host in rules.allow_hosts:
        return
    if host in METADATA_HOSTS and not rules.allow_link_local:
        raise BlockedURL(f"refusing {host}: a cloud metadata service; {_HOW}")
    literal = host.split("%", 1)[0]  # an IPv6 literal may carry a zone (fe80::1%eth0)
    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        address = None
    if address is not None:
        _check_address(address, host, rules)  # an IP literal needs no lookup
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return  # unresolvable: the request itself will fail with a clear error
    for info in infos:
        _check_address(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]), host, rules)


def _check_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str, rules: OutboundPolicy) -> None:
    if str(address) in rules.allow_hosts:
        return
    # ::ffff:169.254.169.254 reaches the IPv4 address: judge the address it maps to.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not rules.allow_link_local and (address in _METADATA_IPS or address.is_link_local):
        raise BlockedURL(f"refusing {host} ({address}): link-local / metadata address; {_HOW}")
    if rules.block_private and (address.is_private or address.is_loopback):
        raise BlockedURL(f"refusing {host} ({address}): private address (security.outbound.blockPrivate); {_HOW}")
