"""``builtin:object-exists``: the file, the ``_SUCCESS`` marker or enough objects have landed.

::

    evaluator: builtin:object-exists
    config:
      url: s3://sales-bucket/sales/${date}/          # or data/sales/${date}/*.parquet, file:///data/...
      minCount: 10          # objects that must match (default 1)
      minBytes: 1048576     # their total size (default 0)
      newerThan: period-start   # or a duration (1h): only objects modified since then count
      marker: _SUCCESS      # this object must be in the folder too; it is not counted as data

What ``url`` names, by its shape:

* a key or file (``.../_SUCCESS``, ``data/x.csv``): that one object;
* a prefix or folder (ends with ``/``, or a local directory): every object under it, at any depth,
  except hidden ones (names starting with ``_`` or ``.``: Hadoop/Spark markers and checksums);
* a pattern (``*``, ``?``, ``[...]``): ``*`` matches within one folder, ``**`` across folders.

``${date}``, ``${period}``, ``${scheduleId}`` and ``${pipelineId}`` are replaced in the URL. S3
listings are paginated (past 1 000 keys) up to :data:`MAX_LISTED` keys. A local path is relative
to the project folder, and must stay in it (``../`` or a link out of it is refused); an absolute
path or ``file://`` URL is taken as written. S3 uses boto3 (``pip install 'interlock[aws]'``) with
the default credential chain. ``period-start`` is the period's opening instant when the request
carries it (``periodStart``), else midnight of the period's date in the schedule's time zone.
"""

from __future__ import annotations

import glob
import ipaddress
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from interlock import rules, timeutil
from interlock.evaluators.base import EvaluationRequest, EvaluatorOutput
from interlock.model import FailureCategory, TraitStatus

# Keys listed at most for one evaluation; a prefix with more is reported as truncated.
MAX_LISTED = 100_000
# Object names shown in the trait value.
SAMPLE = 5
PERIOD_START = "period-start"
# The run facts a URL may use.
URL_VALUES = ("date", "period", "scheduleId", "pipelineId")
# Config keys this builtin reads (the runner adds scheduleId, date, period, periodStart).
CONFIG_KEYS = ("url", "minCount", "minBytes", "newerThan", "marker", "region", "rules")
AWS_EXTRA_HINT = "pip install 'interlock[aws]'"
# Seconds to wait for S3 to accept a connection; a shorter trait timeout wins.
S3_CONNECT_TIMEOUT = 5.0

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_GLOB = re.compile(r"[*?\[]")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_S3_PERMANENT = frozenset({"NoSuchBucket", "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId",
                           "SignatureDoesNotMatch", "InvalidBucketName", "AuthorizationHeaderMalformed",
                           "PermanentRedirect", "InvalidObjectState", "AccountProblem"})


@dataclass(frozen=True)
class Location:
    """Where to look: ``bucket`` is None for the local file system."""

    bucket: str | None
    path: str  # S3 key, prefix or pattern; a local path (absolute, or relative to the project)

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None

    @property
    def pattern(self) -> bool:
        return bool(_GLOB.search(self.path))

    @property
    def folder(self) -> bool:
        """A prefix (S3) or a path written as a folder; a local directory is found at run time."""
        return not self.pattern and (self.path == "" or self.path.endswith("/"))

    def show(self) -> str:
        return f"s3://{self.bucket}/{self.path}" if self.is_s3 else self.path


def parse_location(url: str) -> Location:
    """``s3://bucket/key``, ``file:///abs/path`` or a plain path; raises ValueError saying what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("url must be an s3:// URL, a file:// URL or a path")
    if "\x00" in url:
        raise ValueError("url must not contain NUL characters")
    if url.startswith("s3://"):
        parts = urlsplit(url)
        problem = bucket_problem(parts.netloc)
        if problem:
            raise ValueError(problem)
        if parts.query or parts.fragment:
            raise ValueError("an s3:// URL has no ?query or #fragment")
        return Location(parts.netloc, parts.path.lstrip("/"))
    if url.startswith("file://"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file:// URLs name a local path (file:///data/x), not a host ({parts.netloc})")
        return Location(None, unquote(parts.path))
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", url):
        raise ValueError(f"unsupported URL scheme {url.split('://')[0]!r}: use s3://, file:// or a path")
    return Location(None, url)


def bucket_problem(bucket: str) -> str | None:
    """Why ``bucket`` is not a valid S3 bucket name, or None."""
    if "${" in bucket:
        return f"bucket {bucket!r} cannot be templated; write the bucket's name"
    if not _BUCKET.match(bucket) or ".." in bucket or bucket.startswith("xn--") or bucket.endswith("-s3alias"):
        return (f"{bucket!r} is not a valid S3 bucket name (3-63 characters: lower-case letters, digits, dots and "
                "hyphens, starting and ending with a letter or digit)")
    try:
        ipaddress.ip_address(bucket)
    except ValueError:
        return None
    return f"{bucket!r} is not a valid S3 bucket name (it is formatted as an IP address)"


def escapes(path: str, root: Path) -> bool:
    """Whether a relative ``path`` (as written, ``..`` collapsed) points outside ``root``."""
    if os.path.isabs(path):
        return False
    normal = os.path.normpath(os.path.join(root, path))
    return not Path(normal).is_relative_to(os.path.normpath(root))


def url_values_used(url: str) -> list[str]:
    return _VAR.findall(url)


@dataclass
class Found:
    count: int = 0
    bytes: int = 0
    newest: datetime | None = None
    sample: list[str] = field(default_factory=list)
    marker: bool | None = None
    truncated: bool = False

    def add(self, name: str, size: int, modified: datetime) -> None:
        self.count += 1
        self.bytes += size
        self.newest = modified if self.newest is None or modified > self.newest else self.newest
        if len(self.sample) < SAMPLE:
            self.sample.append(name)


class _Refused(Exception):
    """The check cannot run as configured or as the store answered; ``category`` says if retrying helps."""

    def __init__(self, message: str, category: FailureCategory = FailureCategory.PERMANENT) -> None:
        super().__init__(message)
        self.category = category


def evaluate_objects(request: EvaluationRequest, timeout: float, root: Path | None, now: datetime,
                     period_start: datetime | None) -> EvaluatorOutput:
    """Count what ``url`` matches and decide; never raises for store or config problems."""
    config = request.config
    try:
        settings = _settings(config, now, period_start)
        location = parse_location(_render(str(config.get("url")), request))
        found = _list_s3(location, settings, timeout) if location.is_s3 else _list_local(location, settings, root)
    except _Refused as exc:
        return EvaluatorOutput.error(f"builtin:object-exists: {exc}", exc.category)
    except ValueError as exc:
        return EvaluatorOutput.error(f"config invalid: {exc}", FailureCategory.PERMANENT)
    return _decide(location, found, settings, now)


@dataclass(frozen=True)
class _Settings:
    min_count: int
    min_bytes: int
    since: datetime | None
    marker: str | None
    region: str | None
    checks: list[rules.Rule]


def _settings(config: Mapping[str, Any], now: datetime, period_start: datetime | None) -> _Settings:
    min_count = _count(config, "minCount", 1)
    min_bytes = _count(config, "minBytes", 0)
    since: datetime | None = None
    newer = config.get("newerThan")
    if newer == PERIOD_START:
        if period_start is None:
            raise ValueError(f"newerThan: cannot tell when period {config.get('date')!r} starts")
        since = period_start
    elif newer is not None:
        since = now - parse_newer_than(newer)
    marker = config.get("marker")
    if marker is not None and (not isinstance(marker, str) or not marker or "/" in marker or _GLOB.search(marker)):
        raise ValueError("marker must be an object name such as _SUCCESS (no folders, no wildcards)")
    region = config.get("region")
    if region is not None and not isinstance(region, str):
        raise ValueError("region must be a string such as eu-west-1")
    checks = rules.parse(config["rules"]) if config.get("rules") is not None else []
    return _Settings(min_count, min_bytes, since, marker, region, checks)


def parse_newer_than(value: Any) -> timedelta:
    """A positive duration for ``newerThan`` (``period-start`` is handled by the caller)."""
    try:
        age = timeutil.parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"newerThan must be {PERIOD_START} or a duration such as 1h: {exc}") from None
    if age <= timedelta(0):
        raise ValueError(f"newerThan must be a positive duration, got {value!r}")
    return age


def _count(config: Mapping[str, Any], key: str, default: int) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be a whole number of at least 0, got {value!r}")
    return value


def _render(url: str, request: EvaluationRequest) -> str:
    config = request.config
    period = str(config.get("period") or config.get("date") or "")
    facts = {"date": str(config.get("date") or period), "period": period, "pipelineId": request.pipeline_id,
             "scheduleId": str(config.get("scheduleId") or "")}

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in facts:
            raise ValueError(f"${{{name}}} is not a value of the period; use {', '.join(URL_VALUES)}")
        return facts[name]

    return _VAR.sub(value, url)


def _decide(location: Location, found: Found, settings: _Settings, now: datetime) -> EvaluatorOutput:
    value: dict[str, Any] = {"url": location.show(), "count": found.count, "bytes": found.bytes,
                             "newest": found.newest.isoformat() if found.newest else None, "sample": found.sample}
    if found.marker is not None:
        value["marker"] = found.marker
    if found.truncated:
        value["truncated"] = True
    since = f" modified after {settings.since.isoformat()}" if settings.since else ""
    what = f"{found.count} object{'' if found.count == 1 else 's'} ({found.bytes} bytes) at {location.show()}{since}"
    if found.marker is False:
        return EvaluatorOutput(TraitStatus.FAIL, value, f"marker {settings.marker} not found{since}; {what}")
    if found.count < settings.min_count:
        return EvaluatorOutput(TraitStatus.FAIL, value, f"{what}; minCount {settings.min_count}")
    if found.bytes < settings.min_bytes:
        return EvaluatorOutput(TraitStatus.FAIL, value, f"{what}; minBytes {settings.min_bytes}")
    if settings.checks:
        verdict = rules.judge(settings.checks, value, now)
        if not verdict.holds:
            return EvaluatorOutput(TraitStatus.FAIL, value, verdict.reason())
    return EvaluatorOutput(TraitStatus.PASS, value, what)


# -- local files ----------------------------------------------------------------------------------


def _list_local(location: Location, settings: _Settings, root: Path | None) -> Found:
    relative = not os.path.isabs(location.path)
    if relative and root is None:
        raise _Refused("a relative path needs the project folder; write an absolute path")
    base = root if root is not None else Path("/")
    if relative and escapes(location.path, base):
        raise ValueError(f"path {location.path!r} points outside the project folder {base}")
    target = os.path.normpath(os.path.join(base, location.path)) if relative else location.path
    real_root = os.path.realpath(base)
    found = Found()
    folder = location.folder or (not location.pattern and os.path.isdir(target))
    names: Iterator[str]
    if location.pattern:
        names = (p for p in sorted(glob.iglob(target, recursive=True)) if os.path.isfile(p))
    elif folder:
        names = _walk(target)
    else:
        names = iter([target] if os.path.isfile(target) else [])
    for name in names:
        if relative and not Path(os.path.realpath(name)).is_relative_to(real_root):
            raise _Refused(f"{name} is a link to a place outside the project folder {real_root}")
        shown = os.path.relpath(name, base) if relative else name
        if folder and (_hidden(os.path.relpath(name, target)) or os.path.basename(name) == settings.marker):
            continue
        stat = os.stat(name)
        modified = datetime.fromtimestamp(stat.st_mtime, UTC)
        if settings.since is None or modified > settings.since:
            found.add(shown, stat.st_size, modified)
        if found.count >= MAX_LISTED:
            found.truncated = True
            break
    if settings.marker is not None:
        found.marker = _local_marker(location, target, folder, settings)
    return found


def _walk(top: str) -> Iterator[str]:
    for folder, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            yield os.path.join(folder, name)


def _local_marker(location: Location, target: str, folder: bool, settings: _Settings) -> bool:
    assert settings.marker is not None
    directory = target if folder else os.path.dirname(target)
    if _GLOB.search(directory):
        raise ValueError("marker needs a folder without wildcards before the file pattern")
    path = os.path.join(directory, settings.marker)
    if not os.path.isfile(path):
        return False
    modified = datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
    return settings.since is None or modified > settings.since


def _hidden(relative: str) -> bool:
    return any(part.startswith(("_", ".")) for part in Path(relative).parts)


# -- S3 -------------------------------------------------------------------------------------------


def _list_s3(location: Location, settings: _Settings, timeout: float) -> Found:
    assert location.bucket is not None
    client = _s3_client(settings.region, timeout)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _scan_s3(client, location, settings)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        permanent = code in _S3_PERMANENT or (400 <= status < 500 and status not in (408, 429))
        category = FailureCategory.PERMANENT if permanent else FailureCategory.TRANSIENT
        raise _Refused(f"S3 {code or status} on s3://{location.bucket}: {error.get('Message') or exc}",
                       category) from None
    except BotoCoreError as exc:
        name = type(exc).__name__
        category = FailureCategory.PERMANENT if "Credentials" in name else FailureCategory.TRANSIENT
        raise _Refused(f"S3 {name}: {exc}", category) from None


def _scan_s3(client: Any, location: Location, settings: _Settings) -> Found:
    assert location.bucket is not None
    found = Found()
    if not location.folder and not location.pattern:
        head = _head(client, location.bucket, location.path)
        if head is None and _s3_folder(client, location.bucket, location.path):
            # Written without the trailing slash, but there is no such object and there is such a
            # folder: read it as the folder, as a local directory path is.
            return _scan_s3(client, Location(location.bucket, f"{location.path}/"), settings)
        if head is not None and (settings.since is None or head[1] > settings.since):
            found.add(location.path, head[0], head[1])
        if settings.marker is not None:
            raise ValueError("marker is for a folder or pattern url; this url names one object")
        return found
    prefix = location.path[:_GLOB.search(location.path).start()] if location.pattern else location.path  # type: ignore[union-attr]
    matcher = _key_pattern(location.path) if location.pattern else None
    paginator = client.get_paginator("list_objects_v2")
    listed = 0
    for page in paginator.paginate(Bucket=location.bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            listed += 1
            key: str = item["Key"]
            if listed > MAX_LISTED:
                found.truncated = True
                break
            if matcher is not None and not matcher.match(key):
                continue
            if matcher is None and (_hidden(key[len(prefix):]) or key.endswith("/")):
                continue
            modified: datetime = item["LastModified"]
            if settings.since is None or modified > settings.since:
                found.add(key, int(item.get("Size") or 0), modified)
        if found.truncated:
            break
    if settings.marker is not None:
        folder = prefix if not location.pattern else location.path.rsplit("/", 1)[0] + "/"
        if _GLOB.search(folder):
            raise ValueError("marker needs a folder without wildcards before the key pattern")
        head = _head(client, location.bucket, f"{folder}{settings.marker}" if folder != "/" else settings.marker)
        found.marker = head is not None and (settings.since is None or head[1] > settings.since)
    return found


def _s3_folder(client: Any, bucket: str, key: str) -> bool:
    answer = client.list_objects_v2(Bucket=bucket, Prefix=f"{key}/", MaxKeys=1)
    return bool(answer.get("KeyCount") or answer.get("Contents"))


def _head(client: Any, bucket: str, key: str) -> tuple[int, datetime] | None:
    from botocore.exceptions import ClientError

    try:
        answer = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return int(answer.get("ContentLength") or 0), answer["LastModified"]


def _key_pattern(pattern: str) -> re.Pattern[str]:
    """``*`` within one folder, ``**`` across folders, ``?`` one character, ``[...]`` a class."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (close := pattern.find("]", i + 2)) > 0:
            body = pattern[i + 1:close].replace("\\", "\\\\")
            if body.startswith("!"):
                body = "^" + body[1:]
            elif body.startswith("^"):
                body = "\\" + body
            out.append(f"[{body}]")
            i = close + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.S)


_clients: dict[tuple[str | None, int], Any] = {}
_clients_lock = threading.Lock()


def _forget_inherited_clients() -> None:
    global _clients_lock
    _clients.clear()
    _clients_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_inherited_clients)


def _s3_client(region: str | None, timeout: float) -> Any:
    """This process's S3 client for ``region`` (boto3 clients are thread-safe; creating one is slow)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise _Refused(f"s3:// URLs need boto3, which is not installed: {AWS_EXTRA_HINT}") from None
    key = (region, max(1, int(timeout)))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            config = Config(connect_timeout=min(S3_CONNECT_TIMEOUT, timeout), read_timeout=max(1.0, timeout),
                            retries={"max_attempts": 2, "mode": "standard"})
            client = boto3.client("s3", region_name=region, config=config)
            _clients[key] = client
    return client


def forget_clients() -> None:
    """Drop this process's cached S3 clients (tests that switch the endpoint, e.g. moto on and off)."""
    with _clients_lock:
        _clients.clear()


def start_of_date(period: str, zone: Any) -> datetime | None:
    """Midnight of the period's date in ``zone`` (UTC), or None when the period is not a date."""
    try:
        day = date.fromisoformat(period)
    except (TypeError, ValueError):
        return None
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
