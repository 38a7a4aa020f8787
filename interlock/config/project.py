"""``interlock.yaml``: the project file and the settings derived from it.

Relative paths inside the file resolve against the file's own folder, so ``interlock --config
/srv/etl/interlock.yaml validate`` works from any directory (the reference used the CWD).
Deployment overrides come from the environment and win over the file:

* ``INTERLOCK_REDIS_URL`` — ``redis://[:password@]host:port/db``, or a Sentinel group:
  ``sentinel://[:password@]host:port;sentinel://host:port[/db]?master_name=NAME`` (interlock.redisconn)
* ``INTERLOCK_DATABASE_URL`` — the Postgres archive (SQLAlchemy URL or ``postgres://`` DSN)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from pydantic import Field, StrictBool, StrictInt

from interlock.model import AlertConfig, ConfigModel
from interlock.netguard import OutboundPolicy
from interlock.redisconn import SentinelTarget, is_sentinel_url, parse_sentinel_url
from interlock.timetypes import Duration, PositiveDuration

ENV_CONFIG = "INTERLOCK_CONFIG"
ENV_REDIS_URL = "INTERLOCK_REDIS_URL"
ENV_DATABASE_URL = "INTERLOCK_DATABASE_URL"
DEFAULT_CONFIG_NAME = "interlock.yaml"
DEFAULT_KEY_PREFIX = "interlock:"


class Provider(StrEnum):
    REDIS = "redis"
    DYNAMODB = "dynamodb"


class SentinelConfig(ConfigModel):
    """A Redis primary found through Sentinel (``redis.sentinel``), instead of ``redis.addr``."""

    master_name: str = Field(min_length=1, max_length=200, pattern=r"^[^\s]+$")
    sentinels: list[Annotated[str, Field(pattern=r"^[^\s:/]+:[0-9]{1,5}$")]] = Field(min_length=1)
    # The Redis nodes' password (requirepass / masterauth); redis.password is used when this is unset.
    password: str | None = None
    # The sentinels' own password, when they have one (their requirepass).
    sentinel_password: str | None = None


class RedisConfig(ConfigModel):
    # One server (addr), or a Sentinel group (sentinel): exactly one of the two (checked by the loader).
    addr: str | None = Field(default=None, pattern=r"^[^\s:/]+:[0-9]{1,5}$")
    sentinel: SentinelConfig | None = None
    password: str | None = None
    db: StrictInt = Field(default=0, ge=0, le=1024)
    key_prefix: str = DEFAULT_KEY_PREFIX
    readiness_ttl: PositiveDuration = Duration("5m")
    retention_ttl: PositiveDuration = Duration("168h")
    run_index_limit: StrictInt = Field(default=100, ge=1, le=100_000)
    event_stream_max: StrictInt = Field(default=10_000, ge=100, le=10_000_000)
    # Before a job starts, its claim must be on this many replicas (WAIT), or it is not started
    # (docs/reliability.md, "Redis failover"). 0: no check, for a single Redis without replicas.
    min_replicas_acked: StrictInt = Field(default=0, ge=0, le=16)
    replica_ack_timeout: PositiveDuration = Duration("500ms")


class DynamoDBConfig(ConfigModel):
    table_name: str = Field(min_length=3, max_length=255)
    region: str | None = None
    endpoint: str | None = None
    readiness_ttl: PositiveDuration = Duration("5m")
    retention_ttl: PositiveDuration = Duration("168h")
    create_table: bool = False


class ServerConfig(ConfigModel):
    addr: str = Field(default=":3000", pattern=r"^[^\s]*:[0-9]{1,5}$")
    api_key: str | None = None
    max_request_body: StrictInt = Field(default=1_048_576, ge=1024, le=1_073_741_824)
    # Serve GET /metrics and the read-only status page at / without the API key (e.g. behind a proxy).
    open_metrics: bool = False
    open_status_page: bool = False
    # Connection limits (interlock/api/protocol.py). A request's headers must all arrive within
    # header_timeout of the connection opening (or of the previous response), its body within
    # body_timeout of the headers; else 408 and the connection is closed (slowloris).
    header_timeout: PositiveDuration = Duration("10s")
    body_timeout: PositiveDuration = Duration("30s")
    # An idle keep-alive connection is closed after this long (whole seconds, rounded up).
    keep_alive_timeout: PositiveDuration = Duration("5s")
    # Open connections plus requests in progress beyond which new requests get 503.
    max_connections: StrictInt = Field(default=1000, ge=1, le=1_000_000)
    # Bytes of request line plus headers (h11's max_incomplete_event_size); more is a 400.
    max_header_size: StrictInt = Field(default=16_384, ge=1024, le=1_048_576)


class EngineConfig(ConfigModel):
    default_timeout: PositiveDuration = Duration("30s")
    # Traits evaluated at once per pipeline evaluation (threads).
    max_parallel: StrictInt = Field(default=32, ge=1, le=256)
    # Environment variables passed to evaluator executables besides PATH, HOME, LANG and the like.
    evaluator_env: list[str] | None = None


class WatcherConfig(ConfigModel):
    enabled: bool = False
    default_interval: PositiveDuration = Duration("30s")
    # How often Beat's reconcile pass reads the due index.
    reconcile_interval: PositiveDuration = Duration("2s")


class ArchiverConfig(ConfigModel):
    enabled: bool = False
    interval: PositiveDuration = Duration("5m")
    dsn: str | None = None
    # The change stream's size of reference (entries): without an archive it is trimmed here; with
    # one it is not, and the archiver lagging past lagAlertShare of it raises ``archive_lagging``
    # (docs/reliability.md, "Archive path").
    stream_cap: StrictInt = Field(default=1_000_000, ge=10, le=1_000_000_000)
    lag_alert_share: float = Field(default=0.8, gt=0, le=1)


class WatchdogConfig(ConfigModel):
    enabled: bool = False
    interval: PositiveDuration = Duration("5m")
    stuck_run_threshold: PositiveDuration = Duration("30m")
    # A run still TRIGGERING this long after its claim had its start interrupted (a worker died, a
    # reply was lost): a target that can be asked is asked then (steps/runs.py recover_start).
    recover_after: PositiveDuration = Duration("5m")


class OutboundConfig(ConfigModel):
    allow_link_local: bool = False
    block_private: bool = False
    allow_hosts: list[str] | None = None


class SecurityConfig(ConfigModel):
    outbound: OutboundConfig | None = None


class ProjectConfig(ConfigModel):
    """The top level of ``interlock.yaml``."""

    provider: Provider
    redis: RedisConfig | None = None
    dynamodb: DynamoDBConfig | None = None
    server: ServerConfig | None = None
    engine: EngineConfig | None = None
    archetype_dirs: list[str] = Field(min_length=1)
    # The reference required this but never used it; here it is where bare evaluator names are found.
    evaluator_dirs: list[str] | None = None
    pipeline_dirs: list[str] = Field(min_length=1)
    calendar_dirs: list[str] | None = None
    alerts: list[AlertConfig] | None = None
    watcher: WatcherConfig | None = None
    archiver: ArchiverConfig | None = None
    watchdog: WatchdogConfig | None = None
    security: SecurityConfig | None = None
    # Shadow mode for every pipeline that does not say ``dryRun`` itself (interlock/steps/shadow.py).
    dry_run: StrictBool = False

    def outbound_policy(self) -> OutboundPolicy:
        rules = (self.security.outbound if self.security else None) or OutboundConfig()
        return OutboundPolicy(rules.allow_link_local, rules.block_private,
                              frozenset(h.lower() for h in rules.allow_hosts or []))


@dataclass(frozen=True)
class Settings:
    """What every component (CLI, workers, Beat, API) needs, after env overrides are applied."""

    config_path: Path
    provider: Provider
    redis_url: str
    key_prefix: str
    database_url: str | None
    readiness_ttl: timedelta
    retention_ttl: timedelta
    run_index_limit: int
    event_stream_max: int
    engine_timeout: timedelta
    watch_interval: timedelta
    reconcile_interval: timedelta
    stuck_run_threshold: timedelta
    archive_interval: timedelta
    recover_after: timedelta = timedelta(minutes=5)
    # Whether Beat archives (``archiver.enabled`` and a database URL): the change stream is then not
    # trimmed at its cap (docs/reliability.md, "Archive path").
    archive_enabled: bool = False
    archive_stream_cap: int = 1_000_000
    archive_lag_share: float = 0.8
    # Set when Redis is a Sentinel group (redis_url is then its kombu form, for Celery).
    redis_sentinel: SentinelTarget | None = None
    min_replicas_acked: int = 0
    replica_ack_timeout: timedelta = timedelta(milliseconds=500)

    @property
    def root(self) -> Path:
        """The folder relative paths in the configuration are resolved against."""
        return self.config_path.parent


def normalise_prefix(prefix: str) -> str:
    """A key prefix always ends with ``:`` so ``interlock`` does not give ``interlockpipeline:x``."""
    prefix = prefix or DEFAULT_KEY_PREFIX
    return prefix if prefix.endswith(":") else prefix + ":"


def redis_url_from(cfg: RedisConfig | None) -> str:
    if cfg is None or cfg.addr is None:
        return "redis://localhost:6379/0"
    auth = f":{quote(cfg.password, safe='')}@" if cfg.password else ""
    return f"redis://{auth}{cfg.addr}/{cfg.db}"


def sentinel_target(cfg: RedisConfig | None, env: Mapping[str, str]) -> SentinelTarget | None:
    """The Sentinel group ``$INTERLOCK_REDIS_URL`` (a ``sentinel://`` URL) or ``redis.sentinel`` names; None
    for one server. The URL wins over the file, as for a server; its master name defaults to the file's.

    Raises ValueError for a ``sentinel://`` URL that cannot be used.
    """
    url = env.get(ENV_REDIS_URL)
    block = cfg.sentinel if cfg else None
    if url:
        if not is_sentinel_url(url):
            return None
        return parse_sentinel_url(url, block.master_name if block else None)
    if block is None:
        return None
    assert cfg is not None
    sentinels = tuple((host, int(port)) for host, _, port in (s.rpartition(":") for s in block.sentinels))
    return SentinelTarget(block.master_name, sentinels, block.password or cfg.password, block.sentinel_password,
                          cfg.db)


def database_url_from(dsn: str | None) -> str | None:
    """Accept ``postgres://`` DSNs (as the reference's demo writes them) and SQLAlchemy URLs."""
    if not dsn:
        return None
    for scheme in ("postgres://", "postgresql://"):
        if dsn.startswith(scheme):
            return "postgresql+psycopg2://" + dsn[len(scheme):]
    return dsn


def build_settings(config: ProjectConfig, config_path: Path, env: Mapping[str, str]) -> Settings:
    redis = config.redis or RedisConfig(addr="localhost:6379")
    dyn = config.dynamodb
    ttl_source = dyn if config.provider is Provider.DYNAMODB and dyn else redis
    archiver = config.archiver or ArchiverConfig()
    database_url = database_url_from(env.get(ENV_DATABASE_URL) or archiver.dsn)
    try:
        sentinel = sentinel_target(config.redis, env)
    except ValueError:  # the loader reports it (check_project) and refuses the project
        sentinel = None
    return Settings(
        config_path=config_path,
        provider=config.provider,
        redis_url=sentinel.kombu_url() if sentinel else env.get(ENV_REDIS_URL) or redis_url_from(config.redis),
        key_prefix=normalise_prefix(redis.key_prefix),
        database_url=database_url,
        readiness_ttl=ttl_source.readiness_ttl,
        retention_ttl=ttl_source.retention_ttl,
        run_index_limit=redis.run_index_limit,
        event_stream_max=redis.event_stream_max,
        engine_timeout=(config.engine or EngineConfig()).default_timeout,
        watch_interval=(config.watcher or WatcherConfig()).default_interval,
        reconcile_interval=(config.watcher or WatcherConfig()).reconcile_interval,
        stuck_run_threshold=(config.watchdog or WatchdogConfig()).stuck_run_threshold,
        recover_after=(config.watchdog or WatchdogConfig()).recover_after,
        archive_interval=archiver.interval,
        archive_enabled=archiver.enabled and database_url is not None,
        archive_stream_cap=archiver.stream_cap,
        archive_lag_share=archiver.lag_alert_share,
        redis_sentinel=sentinel,
        min_replicas_acked=redis.min_replicas_acked,
        replica_ack_timeout=redis.replica_ack_timeout,
    )
