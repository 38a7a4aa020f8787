"""Outbound HTTP guard: no requests to link-local or cloud metadata addresses unless allowed.

Evaluators, triggers and webhooks take URLs from configuration; without this, a pipeline file
could point an "evaluator" at 169.254.169.254 and read cloud credentials (SSRF).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

# Names that resolve to metadata services on the major clouds.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal"})
_METADATA_IPS = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                           ipaddress.ip_address("100.100.100.200")})


class BlockedURL(ValueError):
    """A URL the guard refuses, with the reason."""


def check_url(url: str, *, allow_link_local: bool = False) -> None:
    """Raise BlockedURL for a non-HTTP(S) URL, or one whose host is link-local or a metadata service."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedURL(f"not an http(s) URL: {url!r}")
    if allow_link_local:
        return
    host = parts.hostname.lower().rstrip(".")
    if host in METADATA_HOSTS:
        raise BlockedURL(f"refusing {host}: a cloud metadata service")
    literal = host.split("%", 1)[0]  # an IPv6 literal may carry a zone (fe80::1%eth0)
    try:
        _check_address(ipaddress.ip_address(literal), host)
        return  # an IP literal needs no lookup
    except ValueError as exc:
        if isinstance(exc, BlockedURL):
            raise
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return  # unresolvable: the request itself will fail with a clear error
    for info in infos:
        _check_address(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]), host)


def _check_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str) -> None:
    # ::ffff:169.254.169.254 reaches the IPv4 address: judge the address it maps to.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in _METADATA_IPS or address.is_link_local:
        raise BlockedURL(f"refusing {host} ({address}): link-local / metadata address")
