"""Where Redis is, and clients for it: one server (``redis://``) or a Sentinel-watched group (``sentinel://``).

Every component (store, broker, result backend, the dead-letter CLI) reaches Redis through the
project's :class:`~interlock.config.project.Settings`; with Sentinel they hold a
:class:`SentinelTarget` instead of a server address and ask the sentinels which node is the
primary, again after each failover (redis-py's ``SentinelManagedConnection`` reconnects to the
new primary when the old one is gone or answers READONLY).

The ``$INTERLOCK_REDIS_URL`` form of a Sentinel group is kombu's, one ``sentinel://`` URL per
sentinel joined by ``;``, with the group's name as a ``master_name`` query parameter (or in
``redis.sentinel.masterName``)::

    sentinel://:PASSWORD@10.0.0.1:26379;sentinel://10.0.0.2:26379;sentinel://10.0.0.3:26379/0?master_name=interlock

The password (on any of the URLs) is the Redis nodes' ``requirepass``; a password of the
sentinels themselves goes in ``sentinel_password`` (query) or ``redis.sentinel.sentinelPassword``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

if TYPE_CHECKING:  # redis-py is imported on use: the configuration (and the Lambdas) do without it
    import redis
    from redis.sentinel import Sentinel

    from interlock.config.project import Settings

SENTINEL_SCHEME = "sentinel://"
DEFAULT_SENTINEL_PORT = 26379
# Connecting to (or asking) a sentinel that is down must not hang a worker: the next one is asked.
SENTINEL_SOCKET_TIMEOUT = 2.0
# A command that fails for want of a primary is tried again, waiting 0.1, 0.2, 0.4, 0.8 s and then 1 s
# each time: about 28 s in all, long enough for the sentinels to notice a dead primary
# (down-after-milliseconds) and promote a replica. Without it a worker whose job had just finished
# gave up on recording that within a second of the primary dying, and the run stayed TRIGGERING
# (found by tests/chaos/test_failover.py).
FAILOVER_RETRIES = 30
FAILOVER_BACKOFF_BASE, FAILOVER_BACKOFF_CAP = 0.1, 1.0


@dataclass(frozen=True)
class SentinelTarget:
    """A Redis primary found through Sentinel: the group's name and the sentinels to ask."""

    master_name: str
    sentinels: tuple[tuple[str, int], ...]
    password: str | None = None
    sentinel_password: str | None = None
    db: int = 0

    def kombu_url(self) -> str:
        """The broker / result-backend URL Celery understands (``master_name`` goes in transport options)."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return ";".join(f"sentinel://{auth}{host}:{port}/{self.db}" for host, port in self.sentinels)

    def transport_options(self) -> dict[str, Any]:
        """kombu's (and Celery's result backend's) Sentinel transport options."""
        options: dict[str, Any] = {"master_name": self.master_name}
        if self.sentinel_password:
            options["sentinel_kwargs"] = {"password": self.sentinel_password}
        return options

    def sentinel(self) -> Sentinel:
        from redis.sentinel import Sentinel

        kwargs: dict[str, Any] = {"socket_timeout": SENTINEL_SOCKET_TIMEOUT,
                                  "socket_connect_timeout": SENTINEL_SOCKET_TIMEOUT}
        if self.sentinel_password:
            kwargs["password"] = self.sentinel_password
        return Sentinel(list(self.sentinels), sentinel_kwargs=kwargs, socket_connect_timeout=SENTINEL_SOCKET_TIMEOUT)

    def primary(self, **kwargs: Any) -> redis.Redis:
        """A client of the group's current primary; it follows the primary across failovers, retrying
        a command that fails meanwhile (FAILOVER_RETRIES)."""
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        kwargs.setdefault("retry", Retry(ExponentialBackoff(cap=FAILOVER_BACKOFF_CAP, base=FAILOVER_BACKOFF_BASE),
                                         FAILOVER_RETRIES))
        primary: redis.Redis = self.sentinel().master_for(self.master_name, password=self.password, db=self.db,
                                                          **kwargs)
        return primary


def is_sentinel_url(url: str) -> bool:
    return url.lower().startswith(SENTINEL_SCHEME)


def parse_sentinel_url(url: str, master_name: str | None = None) -> SentinelTarget:
    """``sentinel://[:pw@]host:port;sentinel://host:port[/db][?master_name=NAME]`` as a target.

    ``master_name`` is used when the URL has none. Raises ValueError saying what is wrong.
    """
    sentinels: list[tuple[str, int]] = []
    passwords: set[str] = set()
    dbs: set[int] = set()
    query: dict[str, list[str]] = {}
    for i, chunk in enumerate(c.strip() for c in url.split(";")):
        if not chunk:
            continue
        where = f"part {i + 1} ({_hide_password(chunk.split('?', 1)[0])!r})"
        if not is_sentinel_url(chunk):
            raise ValueError(f"{where}: every part of a Sentinel URL starts with sentinel://")
        parts = urlsplit(chunk)
        try:
            port = parts.port or DEFAULT_SENTINEL_PORT
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if not parts.hostname:
            raise ValueError(f"{where}: no host")
        sentinels.append((parts.hostname, port))
        if parts.password:
            passwords.add(unquote(parts.password))
        db = parts.path.strip("/")
        if db:
            if not db.isdigit():
                raise ValueError(f"{where}: the database must be a number, got {db!r}")
            dbs.add(int(db))
        for key, values in parse_qs(parts.query).items():
            query.setdefault(key, []).extend(values)
    if not sentinels:
        raise ValueError("no sentinel in the URL")
    if len(passwords) > 1 or len(dbs) > 1:
        raise ValueError("the parts of a Sentinel URL disagree on the password or the database")
    unknown = set(query) - {"master_name", "sentinel_password"}
    if unknown:
        raise ValueError(f"unknown query parameter(s) {', '.join(sorted(unknown))}: "
                         "expected master_name and sentinel_password")
    name = (query.get("master_name") or [master_name or ""])[-1]
    if not name:
        raise ValueError("a Sentinel URL needs the group's name: add ?master_name=NAME "
                         "(or set redis.sentinel.masterName in interlock.yaml)")
    sentinel_password = (query.get("sentinel_password") or [""])[-1] or None
    return SentinelTarget(name, tuple(sentinels), next(iter(passwords), None), sentinel_password,
                          next(iter(dbs), 0))


def _hide_password(chunk: str) -> str:
    parts = urlsplit(chunk)
    if parts.password is None:
        return chunk
    return chunk.replace(f":{parts.password}@", ":***@", 1)


def client(settings: Settings, **kwargs: Any) -> redis.Redis:
    """A redis-py client of the project's Redis (its primary, under Sentinel); ``kwargs`` as redis.Redis's."""
    import redis

    if settings.redis_sentinel is not None:
        return settings.redis_sentinel.primary(**kwargs)
    return redis.Redis.from_url(settings.redis_url, **kwargs)
