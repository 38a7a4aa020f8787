"""The project index: open a project without reading every pipeline file (docs/scale.md, "Loading").

``.interlock/cache/index-<id>.json`` under the project folder records, for every pipeline file that
passed validation, its stat (size, mtime and ctime in ns, inode), the digest of its bytes, the
pipeline it defines and the executables its evaluators name. It is keyed by the digest of
everything a pipeline's checks depend on besides its own file: ``interlock.yaml``, every archetype
and calendar file, the configured folders, the Interlock version.

:func:`open_project` loads ``interlock.yaml``, the archetypes and calendars in full (they are few),
lists the pipeline folders and stats every file. A file whose stat matches its entry is taken as
validated; any other is read and, if its bytes differ, validated again. Any error anywhere, a
duplicate name, an evaluator that no longer resolves, a changed key or an unreadable index: the
full load runs instead (it raises the errors exactly as ``interlock validate`` prints them). The
pipelines of the project it returns are read one file at a time, when asked for.

Never stale: an edit changes the ctime (which nothing can set back) and usually the size or mtime.
A file whose mtime or ctime is within :data:`RACY_NS` of when its entry was taken (coarse file
system clocks: a second edit in the same tick keeps both) is read and compared by digest on every
open, until the index is written again after that window (the "racily clean" rule of git's index).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlock import __version__
from interlock.config import evaluator_refs
from interlock.config.errors import ConfigError, ConfigInvalid
from interlock.config.loader import (
    FileCheck,
    Project,
    _Loading,
    digest_of,
    find_config,
)
from interlock.model import PipelineConfig

log = logging.getLogger(__name__)

CACHE_DIR = Path(".interlock") / "cache"
FORMAT = 2
# A file changed this close to when its entry was taken is compared by content, not by stat.
RACY_NS = 2_000_000_000
# A process that answers while its pipelines load does so only from this many files (below it the load
# takes well under a second, and an error in a pipeline file stops the process before it starts).
DEFER_MIN_FILES = 1000

Warn = Callable[[str], None]


@dataclass
class Entry:
    """What the index keeps about one pipeline file (a row of :class:`Table`)."""

    file: str
    stat: tuple[int, int, int, int]
    digest: str
    name: str
    executables: list[str]
    volatile: bool

    @staticmethod
    def from_check(check: FileCheck) -> Entry | None:
        if check.pipeline is None or check.digest is None or check.stat is None:
            return None
        return Entry(str(check.file), check.stat, check.digest, check.pipeline.name, check.executables,
                     check.volatile)


@dataclass
class Table:
    """The index's entries as columns: entry ``i`` is ``files[i]``, ``stats[4 * i : 4 * i + 4]`` (size,
    mtime and ctime in ns, inode), ``digests[i]``, ``names[i]``, ``executables.get(i, [])`` and whether
    ``i`` is in ``volatile``.

    Columns, not an object or a list per file: decoding and checking 50 000 entries is what a command
    about one pipeline pays for, and flat lists decode about 3x faster than lists of lists. A stat
    that is not four integers matches no file, which is then read again.
    """

    files: list[str] = field(default_factory=list)
    stats: list[int] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    executables: dict[int, list[str]] = field(default_factory=dict)
    volatile: set[int] = field(default_factory=set)
    # Each pipeline folder's [path, mtime_ns, ctime_ns, inode], taken before it was listed: while
    # they hold (and are not racy), ``files`` is the listing.
    folders: list[list[Any]] = field(default_factory=list)

    def add(self, entry: Entry) -> None:
        self._append(entry.file, entry.stat, entry.digest, entry.name, entry.executables, entry.volatile)

    def add_from(self, other: Table, i: int, stat: tuple[int, int, int, int] | None = None) -> None:
        """Entry ``i`` of ``other``, with ``stat`` instead of its own if given."""
        self._append(other.files[i], stat or tuple(other.stats[4 * i:4 * i + 4]), other.digests[i],  # type: ignore[arg-type]
                     other.names[i], other.executables.get(i, []), i in other.volatile)

    def _append(self, file: str, stat: tuple[int, int, int, int], digest: str, name: str, executables: list[str],
                volatile: bool) -> None:
        i = len(self.files)
        self.files.append(file)
        self.stats.extend(stat)
        self.digests.append(digest)
        self.names.append(name)
        if executables:
            self.executables[i] = list(executables)
        if volatile:
            self.volatile.add(i)

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "stats": self.stats, "digests": self.digests, "names": self.names,
                "executables": [[i, refs] for i, refs in sorted(self.executables.items())],
                "volatile": sorted(self.volatile), "folders": self.folders}

    @staticmethod
    def from_json(data: dict[str, Any]) -> Table:
        """The table an index file holds; ValueError if its columns do not line up or hold the wrong types."""
        files, stats, digests, names = data["files"], data["stats"], data["digests"], data["names"]
        if not all(type(column) is list for column in (files, stats, digests, names, data["executables"],
                                                        data["volatile"])):
            raise ValueError("malformed columns")
        count = len(files)
        if len(stats) != 4 * count or len(digests) != count or len(names) != count:
            raise ValueError("columns of different lengths")
        if not {type(v) for v in files} | {type(v) for v in digests} | {type(v) for v in names} <= {str}:
            raise ValueError("malformed entry")
        executables: dict[int, list[str]] = {}
        for item in data["executables"]:
            if type(item) is not list or len(item) != 2 or type(item[0]) is not int or not 0 <= item[0] < count \
                    or type(item[1]) is not list or not all(type(ref) is str for ref in item[1]):
                raise ValueError("malformed executables")
            executables[item[0]] = item[1]
        volatile = set(data["volatile"])
        if not all(type(i) is int and 0 <= i < count for i in volatile):
            raise ValueError("malformed volatile")
        folders = data["folders"]
        if type(folders) is not list or not all(type(f) is list and len(f) == 4 and type(f[0]) is str
                                                 for f in folders):
            raise ValueError("malformed folders")
        return Table(files, stats, digests, names, executables, volatile, folders)


class Fallback(Exception):
    """The index cannot answer: do the full load."""


def index_path(config_path: Path) -> Path:
    """Where the index of the project ``config_path`` names lives (one per configuration file)."""
    return config_path.parent / CACHE_DIR / f"index-{digest_of(str(config_path).encode())[:12]}.json"


def project_key(loading: _Loading, project: Project) -> str:
    """What every pipeline's verdict depends on besides its own file."""
    parts = [f"format {FORMAT}", f"interlock {__version__}", str(loading.path), str(project.root)]
    parts += [f"{file}={digest}" for file, digest in sorted(loading.read_digests.items())]
    parts += [f"pipelineDirs={project.config.pipeline_dirs!r}", f"evaluatorDirs={project.config.evaluator_dirs!r}"]
    return digest_of("\n".join(parts).encode())


def open_project(config_path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None, *,
                 warn: Warn | None = None, failed: Callable[[ConfigInvalid], None] | None = None) -> Project:
    """The project, validated as :func:`load_project` would, but read through the index.

    Raises :class:`ConfigInvalid` exactly when :func:`load_project` does, with the same errors.
    ``warn`` (default: the log) is told when the index cannot be read or written.

    ``failed``: for a process that answers while its pipelines load (``interlock serve``, a
    worker). When the index cannot answer (a first start, or ``interlock.yaml``, an archetype or a
    calendar changed) and the project has :data:`DEFER_MIN_FILES` pipeline files or more, the
    full load runs on a thread of its own and the project comes back at once with
    :class:`PendingPipelines`; errors in ``interlock.yaml``, the archetypes and calendars
    are still raised here, and those found in pipeline files are passed to ``failed`` when the
    load ends (the caller stops).
    """
    env = os.environ if env is None else env
    warn = warn or log.warning
    path = find_config(config_path, env)
    loading = _Loading(path, env)
    project = loading.base()  # raises on errors in interlock.yaml, archetypes, calendars
    key = project_key(loading, project)
    where = index_path(loading.path)
    try:
        entries, taken_at = _read(where, key, warn)
        opened = _open(loading, project, entries, taken_at)
    except Fallback:
        opened = None
    if opened is None:
        def load() -> Project:
            full = _Loading(path, env)
            loaded = full.run()  # raises ConfigInvalid with every error, as interlock validate shows them
            save(full, loaded, warn)
            return loaded

        if failed is None or len(loading.pipeline_paths(project)) < DEFER_MIN_FILES:
            return load()
        project.pipelines = PendingPipelines(project, load, failed)
        return project
    fresh, changed, taken = opened
    if changed:
        _write(where, key, fresh, taken, warn)
    project.pipelines = LazyPipelines(project, dict(zip(fresh.names, fresh.files, strict=True)))
    project.digests = dict(zip(fresh.names, fresh.digests, strict=True))
    return project


def save(loading: _Loading, project: Project, warn: Warn | None = None) -> None:
    """Write the index of a project that a full load just validated (``interlock validate`` does)."""
    taken = time.time_ns()
    table = Table()
    for entry in (Entry.from_check(c) for c in loading.checked):
        if entry is not None:
            table.add(entry)
    # The folders are stat-ed after they were listed: a change in between is after the load began,
    # so it is inside the racy window below and the next open lists them again.
    table.folders = _folder_stats(loading, project) or []
    # The entries' stats were taken during the load: the racy window is judged from its start.
    _write(index_path(loading.path), project_key(loading, project), table, min(taken, loading.started_ns),
           warn or log.warning)


def _read(where: Path, key: str, warn: Warn) -> tuple[Table, int]:
    try:
        raw = where.read_bytes()
    except FileNotFoundError:
        raise Fallback from None
    except OSError as exc:
        warn(f"cannot read the project index {where} ({exc.strerror or exc}); loading every file")
        raise Fallback from None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        if data.get("format") != FORMAT:
            raise Fallback  # written by another version of Interlock: loaded again and rewritten, silently
        if data.get("key") != key:
            raise Fallback  # interlock.yaml, an archetype or a calendar changed: every verdict may have
        taken_at = data["takenAt"]
        if not isinstance(taken_at, int):
            raise ValueError("malformed header")
        return Table.from_json(data), taken_at
    except (ValueError, KeyError, TypeError) as exc:
        warn(f"the project index {where} is unreadable ({exc}); loading every file and writing it again")
        raise Fallback from None


def _open(loading: _Loading, project: Project, old: Table, taken_at: int) -> tuple[Table, bool, int] | None:
    """(the entries of the current files, whether they differ from the index, when they were taken),
    or None when only a full load can answer (an error, a duplicate, an evaluator gone)."""
    taken = time.time_ns()
    safe_before = taken_at - RACY_NS
    folders = _folder_stats(loading, project)
    if folders is None:  # a missing folder, a link out of the project: the full load says so
        return None
    # Same folder stats, not racy: no entry was added, removed or renamed since the index listed them.
    # Same stats but too recent to trust: listed, and written down again with a later time.
    racy_seen = folders == old.folders
    if racy_seen and all(f[1] < safe_before and f[2] < safe_before for f in folders):
        files, racy_seen = old.files, False
    else:
        files = loading.pipeline_paths(project)
        if loading.errors:
            return None
    # The listing is sorted and so is the index: when they are the same files, entry n is file n.
    positional = files == old.files
    where_in_old = None if positional else {file: i for i, file in enumerate(old.files)}
    checked: dict[int, Entry] = {}  # file n was validated again
    restat: dict[int, tuple[int, int, int, int]] = {}  # file n has the same bytes under a new stat
    stats, volatile = old.stats, old.volatile
    for n, file in enumerate(files):
        i = n if where_in_old is None else where_in_old.get(file)
        try:
            st = os.stat(file)
        except OSError:
            return None
        if i is not None and i not in volatile:
            j = 4 * i
            same_stat = stats[j] == st.st_size and stats[j + 1] == st.st_mtime_ns \
                and stats[j + 2] == st.st_ctime_ns and stats[j + 3] == st.st_ino
            if same_stat and st.st_mtime_ns < safe_before and st.st_ctime_ns < safe_before:
                continue
            # Racy, or touched, copied, checked out again: the same bytes keep their verdict.
            try:
                with open(file, "rb") as f:
                    same = digest_of(f.read()) == old.digests[i]
            except OSError:
                return None
            racy_seen = racy_seen or same_stat
            if same:
                if not same_stat:
                    restat[n] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                continue
        check = loading.check_pipeline_file(project, Path(file))
        entry = Entry.from_check(check)
        if check.errors or entry is None:
            return None
        checked[n] = entry
    changed = not positional or bool(checked) or bool(restat) or folders != old.folders
    fresh = old
    if changed:
        fresh = Table(folders=folders)
        for n, file in enumerate(files):
            if n in checked:
                fresh.add(checked[n])
            else:
                fresh.add_from(old, n if where_in_old is None else where_in_old[file], restat.get(n))
    if len(set(fresh.names)) != len(fresh.names):
        return None  # a name defined twice: the full load says which files
    for ref in sorted({ref for refs in fresh.executables.values() for ref in refs}):
        try:
            evaluator_refs.resolve(ref, project.root, project.evaluator_dirs())
        except ValueError:
            return None
    # Files that were racy are written down again so that, once the window has passed, a stat suffices.
    return fresh, changed or racy_seen, taken if changed or racy_seen else taken_at


def _folder_stats(loading: _Loading, project: Project) -> list[list[Any]] | None:
    """Each pipeline folder's [path, mtime_ns, ctime_ns, inode]; None (the error recorded) if one is missing
    or a link out of the project."""
    stats: list[list[Any]] = []
    for i, folder in enumerate(project.config.pipeline_dirs):
        found = loading.folder("pipelineDirs", i, folder)
        if found is None:
            return None
        try:
            st = os.stat(found[0])
        except OSError:
            return None
        stats.append([str(found[0]), st.st_mtime_ns, st.st_ctime_ns, st.st_ino])
    return stats


def _write(where: Path, key: str, table: Table, taken_at: int, warn: Warn) -> None:
    body = json.dumps({"format": FORMAT, "key": key, "takenAt": taken_at, **table.to_json()},
                      separators=(",", ":"))
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        gitignore = where.parent.parent / ".gitignore"
        if not gitignore.exists():
            gitignore.write_text("# Written by Interlock: a cache of the project index, safe to delete.\n*\n")
        fd, tmp = tempfile.mkstemp(dir=where.parent, prefix=".index-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as out:
                out.write(body)
            os.replace(tmp, where)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        warn(f"cannot write the project index {where} ({exc.strerror or exc}); the next command loads "
             "every file again")


class LazyPipelines(Mapping[str, PipelineConfig]):
    """The project's pipelines by name, each read from its file the first time it is asked for.

    The file was validated (now or when the index was written); if it changed in between, it is
    validated again, and an error then is raised as :class:`ConfigInvalid`.
    """

    def __init__(self, project: Project, files: dict[str, str]) -> None:
        self._project = project
        self._files = files  # pipeline name -> its file
        self._loaded: dict[str, PipelineConfig] = {}

    def __getitem__(self, name: str) -> PipelineConfig:
        found = self._loaded.get(name)
        if found is not None:
            return found
        file = self._files[name]  # KeyError: not a pipeline of the project's files
        loading = _Loading(self._project.settings.config_path, os.environ)
        check = loading.check_pipeline_file(self._project, Path(file))
        if check.errors:
            raise ConfigInvalid(check.errors)
        if check.pipeline is None or check.pipeline.name != name:
            raise ConfigInvalid([ConfigError(loading.name(Path(file)),
                                             f"changed while Interlock was reading it (it no longer defines "
                                             f"pipeline {name!r}); run the command again")])
        self._loaded[name] = check.pipeline
        return check.pipeline

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def __contains__(self, name: object) -> bool:
        return name in self._files


class PendingPipelines(Mapping[str, PipelineConfig]):
    """The pipelines of a project whose full load runs on a thread of its own; reading them waits for it.

    When the load ends, the project's ``digests`` and ``sources`` are those of the full load. If it
    fails, ``failed`` is called with the errors (once, on the loading thread) and every read raises
    them. A process forked before the load ended (a Celery pool process) has no loading thread: it
    loads the project itself the first time it reads them (through the index, if the parent has
    written it by then).
    """

    def __init__(self, project: Project, load: Callable[[], Project], failed: Callable[[ConfigInvalid], None]) -> None:
        self._project = project
        self._load = load
        self._failed: Callable[[ConfigInvalid], None] | None = failed
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._pipelines: Mapping[str, PipelineConfig] = {}
        self._error: Exception | None = None
        _PENDING.add(self)
        self._thread: threading.Thread | None = threading.Thread(target=self._run, name="interlock-load-project",
                                                                  daemon=True)
        self._thread.start()

    @property
    def loaded(self) -> bool:
        """Whether the load has ended (well or not)."""
        return self._done.is_set()

    def _run(self) -> None:
        with self._lock:
            if self._done.is_set():
                return
            started = time.monotonic()
            try:
                full = self._load()
            except Exception as exc:  # ConfigInvalid, or a file system error: every reader gets it
                self._error = exc
            else:
                self._project.digests = full.digests
                self._project.sources.update(full.sources)
                self._project.warnings.extend(full.warnings)
                self._pipelines = full.pipelines
                log.info("project loaded: %d pipelines (%.1f s)", len(full.pipelines), time.monotonic() - started)
            self._done.set()
        failed, self._failed = self._failed, None
        if failed is not None and self._error is not None:
            failed(self._error if isinstance(self._error, ConfigInvalid) else ConfigInvalid(
                [ConfigError(str(self._project.settings.config_path), f"loading the project failed: {self._error}")]))

    def _after_fork_in_child(self) -> None:
        if self._done.is_set():
            return
        # The loading thread is not in this process; the first read here loads (see _resolved).
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = None
        self._failed = None  # the parent reports and stops

    def _resolved(self) -> Mapping[str, PipelineConfig]:
        if not self._done.is_set():
            if self._thread is None:
                self._run()
            self._done.wait()
        if self._error is not None:
            raise self._error
        return self._pipelines

    def __getitem__(self, name: str) -> PipelineConfig:
        return self._resolved()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._resolved())

    def __len__(self) -> int:
        return len(self._resolved())

    def __contains__(self, name: object) -> bool:
        return name in self._resolved()

    __hash__ = object.__hash__  # Mapping compares by content; _PENDING keeps it by identity


_PENDING: weakref.WeakSet[PendingPipelines] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pending in list(_PENDING):
        pending._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
