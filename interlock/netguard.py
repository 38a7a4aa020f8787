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

The address judged is the address connected to: :func:`request` and :func:`pinned_transport`
resolve the host once per connection, check every address, and connect to a checked one (the
Host header and TLS SNI stay the host name), so a DNS answer that changes between the check and
the connection (DNS rebinding) cannot reach a refused address. :func:`check_url` is the early,
configuration-time check (a clear error at load); the connection is where it is enforced.

There is no process-wide policy: the project's (``ProjectConfig.outbound_policy()``) is handed to
what reaches out — the evaluator runner, the trigger context, the alert sinks — so loading a
project changes nothing in the process, and two projects in one process each keep their own.
A caller that passes none gets :data:`DEFAULT_POLICY`.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

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


def policy_of(using: OutboundPolicy | None, allow_link_local: bool | None = None) -> OutboundPolicy:
    """``using`` (default :data:`DEFAULT_POLICY`), with ``allow_link_local`` overridden when given."""
    rules = using or DEFAULT_POLICY
    if allow_link_local is not None:
        rules = OutboundPolicy(allow_link_local, rules.block_private, rules.allow_hosts)
    return rules


def check_url(url: str, *, allow_link_local: bool | None = None, using: OutboundPolicy | None = None) -> None:
    """Raise BlockedURL for a non-HTTP(S) URL or a host ``using`` (default :data:`DEFAULT_POLICY`) refuses."""
    rules = policy_of(using, allow_link_local)
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
        addresses = resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror:
        return  # unresolvable: the request itself will fail with a clear error
    for found in addresses:
        _check_address(ipaddress.ip_address(found.split("%", 1)[0]), host, rules)


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (TCP), in the resolver's order: the one lookup per connection."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]


def allowed_addresses(host: str, port: int, rules: OutboundPolicy) -> list[str]:
    """Resolve ``host`` once and return its addresses if ``rules`` allow every one; raise BlockedURL if not."""
    host = host.lower().rstrip(".")
    literal = host.strip("[]").split("%", 1)[0]
    try:
        ipaddress.ip_address(literal)
        addresses = [host.strip("[]")]
    except ValueError:
        if host in METADATA_HOSTS and host not in rules.allow_hosts and not rules.allow_link_local:
            raise BlockedURL(f"refusing {host}: a cloud metadata service; {_HOW}") from None
        addresses = resolve(host, port)
    if host not in rules.allow_hosts:
        for address in addresses:
            _check_address(ipaddress.ip_address(address.split("%", 1)[0]), host, rules)
    return addresses


class _PinnedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the policy allows, as resolved once here."""

    def __init__(self, rules: OutboundPolicy) -> None:
        self.rules = rules

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        try:
            addresses = allowed_addresses(host, port, self.rules)
        except BlockedURL as exc:
            raise httpcore.ConnectError(str(exc)) from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        last: Exception | None = None
        for address in addresses:  # the checked addresses, and nothing looked up again
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError(f"{host} resolved to no address")


def pinned_transport(using: OutboundPolicy | None = None, **kwargs: Any) -> httpx.HTTPTransport:
    """An httpx transport whose connections go to addresses ``using`` allows, checked as connected."""
    transport = httpx.HTTPTransport(**kwargs)
    # httpcore takes its network backend when the pool is made; httpx does not pass one through.
    transport._pool._network_backend = _PinnedBackend(using or DEFAULT_POLICY)
    return transport


def client(using: OutboundPolicy | None = None, **kwargs: Any) -> httpx.Client:
    """An httpx client on :func:`pinned_transport` (never follows redirects unless told to)."""
    kwargs.setdefault("follow_redirects", False)
    return httpx.Client(transport=pinned_transport(using), **kwargs)


def request(method: str, url: str, *, using: OutboundPolicy | None = None, **kwargs: Any) -> httpx.Response:
    """``httpx.request`` through :func:`client`: the address checked is the address connected to."""
    with client(using) as c:
        return c.request(method, url, **kwargs)


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
