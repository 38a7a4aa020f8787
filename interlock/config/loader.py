"""Load a whole project: ``interlock.yaml``, archetypes, calendars and pipelines, all validated.

Every problem is collected, not just the first; each says its file, line and field path. A
project that loads has been checked for what the reference only discovered at fire time (or never):
unknown keys, a trigger block that is missing or does not match ``trigger.type``, missing trigger
fields, bad durations / times / time zones, duplicate schedules, unknown archetypes and calendars,
trait keys the archetype does not define, duplicate names across files.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from interlock import rules
from interlock.alerts.slack import DEFAULT_API_URL, TOKEN_REFERENCE
from interlock.calendars import HOLIDAYS_PREFIX, parse_holiday_calendar
from interlock.config import evaluator_configs, evaluator_refs, lint
from interlock.config.discovery import is_within, list_folder, plain_listing, real_path
from interlock.config.errors import (
    ConfigError,
    ConfigInvalid,
    accepts_key,
    did_you_mean,
    display_name,
    format_path,
    from_validation_error,
)
from interlock.config.project import (
    DEFAULT_CONFIG_NAME,
    DEFAULT_KEY_PREFIX,
    ENV_CONFIG,
    ENV_REDIS_URL,
    ProjectConfig,
    Provider,
    Settings,
    build_settings,
    sentinel_target,
)
from interlock.config.schedule_checks import inclusion_and_force_problems
from interlock.config.schedules import schedule_problems
from interlock.config.yamlio import Document, YamlError, parse
from interlock.model import (
    TRIGGER_BLOCKS,
    AlertConfig,
    AlertType,
    Archetype,
    Calendar,
    PipelineConfig,
    ReadinessRuleType,
    TriggerType,
    normalise_trigger,
)
from interlock.netguard import BlockedURL, check_url

M = TypeVar("M", bound=BaseModel)

# A config file bigger than this is a mistake (a data file in the wrong folder), not a pipeline.
MAX_FILE_BYTES = 1_048_576


# At this many pipeline files or more, a full load validates them in a pool of processes (one per
# core) when it safely can (see _Loading.check_pipeline_files); below it, the pool costs more than it saves.
PARALLEL_MIN_FILES = 2000

# Called with (files done, files in all) while pipeline files are validated.
Progress = Callable[[int, int], None]


def digest_of(data: bytes) -> str:
    """The content digest of a file as the index and the registration ledger keep it."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass
class FileCheck:
    """What validating one pipeline file found; the same in the serial and the parallel path."""

    file: Path
    pipeline: PipelineConfig | None  # None when it has errors
    errors: list[ConfigError]
    warnings: list[ConfigError]
    digest: str | None = None  # of the bytes read; None when the file could not be read
    stat: tuple[int, int, int, int] | None = None  # (size, mtime_ns, ctime_ns, inode) before reading
    executables: list[str] = field(default_factory=list)  # evaluator refs resolved on the file system
    volatile: bool = False  # uses a plugin: its checks depend on installed code, so never cached
    name_line: int | None = None  # where ``name:`` is, for the duplicate-name error


# What each model is called in messages about a file that is none of them.
_KINDS: dict[type[BaseModel], str] = {ProjectConfig: "project configuration", Archetype: "archetype",
                                      Calendar: "calendar", PipelineConfig: "pipeline"}


@dataclass
class Project:
    """A loaded, validated project."""

    config: ProjectConfig
    settings: Settings
    archetypes: dict[str, Archetype] = field(default_factory=dict)
    # A dict after a full load; a lazy mapping that reads one file per pipeline asked for when the
    # project was opened through the index (interlock/config/index.py).
    pipelines: Mapping[str, PipelineConfig] = field(default_factory=dict)
    calendars: dict[str, Calendar] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)  # "pipeline:<name>" -> file
    # The content digest of each pipeline's file (interlock.steps.deps registers only the changed ones).
    digests: dict[str, str] = field(default_factory=dict)
    # What loads but is probably a mistake, and files left out of the folders (see interlock.config.lint).
    warnings: list[ConfigError] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.settings.root

    def evaluator_dirs(self) -> list[Path]:
        return [self.root / d for d in self.config.evaluator_dirs or []]


def find_config(explicit: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None) -> Path:
    """``--config PATH``, else ``$INTERLOCK_CONFIG``, else ``./interlock.yaml``."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    return Path.cwd() / DEFAULT_CONFIG_NAME


def load_project(
    config_path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None, *,
    progress: Progress | None = None, parallel: bool | None = None,
) -> Project:
    """Load and validate the whole project; raise :class:`ConfigInvalid` listing every error.

    ``parallel``: validate the pipeline files in a pool of processes (default: when there are
    :data:`PARALLEL_MIN_FILES` or more, several cores and no other thread). The errors, warnings
    and their order are the same either way. ``progress`` is called as files are validated.
    """
    env = os.environ if env is None else env
    path = find_config(config_path, env)
    return _Loading(path, env, progress=progress, parallel=parallel).run()


class _Loading:
    def __init__(self, path: Path, env: Mapping[str, str], *, progress: Progress | None = None,
                 parallel: bool | None = None) -> None:
        self.path = path.absolute()
        self.env = env
        self.root = self.path.parent
        self.real_root = real_path(self.root) or self.root
        self.errors: list[ConfigError] = []
        self.warnings: list[ConfigError] = []
        self.progress = progress
        self.parallel = parallel
        # Digest of every non-pipeline file read (interlock.yaml, archetypes, calendars): the index's key.
        self.read_digests: dict[Path, str] = {}
        # Per pipeline file that loaded, what the index keeps (filled by load_pipelines).
        self.checked: list[FileCheck] = []
        self.last_digest = ""  # of the last file read()
        self.started_ns = time.time_ns()

    # -- helpers ----------------------------------------------------------------------------------

    def name(self, path: Path) -> str:
        return display_name(path)

    def error(self, file: Path, message: str, path: tuple[Any, ...] = (), doc: Document | None = None) -> None:
        line = doc.line_of(path) if doc else None
        self.errors.append(ConfigError(self.name(file), message, format_path(path), line))

    def warn(self, file: Path, message: str, path: tuple[Any, ...] = (), doc: Document | None = None) -> None:
        line = doc.line_of(path) if doc else None
        self.warnings.append(ConfigError(self.name(file), message, format_path(path), line))

    def read(self, file: Path, what: str) -> Document | None:
        """Parse ``file``; record an error and return None when it cannot be read as a mapping."""
        try:
            if file.stat().st_size > MAX_FILE_BYTES:
                self.error(file, f"file is larger than {MAX_FILE_BYTES} bytes; is it really a {what}?")
                return None
            data = file.read_bytes()
            self.last_digest = digest_of(data)
            text = data.decode("utf-8")
        except FileNotFoundError:
            self.error(file, "file not found")
            return None
        except UnicodeDecodeError:
            self.error(file, "file is not UTF-8 text")
            return None
        except OSError as exc:
            self.error(file, f"cannot read file: {exc.strerror or exc}")
            return None
        try:
            doc = parse(text)
        except YamlError as exc:
            self.errors.append(ConfigError(self.name(file), exc.message, line=exc.line))
            return None
        if doc.data is None:
            self.error(file, f"file is empty; expected a {what} mapping")
            return None
        if not isinstance(doc.data, dict):
            self.error(file, f"expected a {what} mapping at the top level, got {type(doc.data).__name__}")
            return None
        return doc

    def validate(self, model: type[M], file: Path, doc: Document) -> M | None:
        if doc.data and not any(accepts_key(model, key) for key in doc.data):
            # Not this kind of file at all (a data file, a key, a link to /etc/...): one error, and
            # none of its keys quoted, since they are its content.
            what = _KINDS.get(model, "configuration")
            self.error(file, f"none of the {len(doc.data)} top-level keys is a {what} field; is this a "
                             f"{what} file?")
            return None
        try:
            return model.model_validate(doc.data)
        except ValidationError as exc:
            self.errors.extend(from_validation_error(exc, model, self.name(file), doc))
            return None

    def folder(self, key: str, index: int, folder: str) -> tuple[Path, Path] | None:
        """(the folder, the real path its files must stay within), or None with the error recorded."""
        directory = self.root / folder
        if not directory.is_dir():
            what = "does not exist" if not directory.exists() else "is not a directory"
            self.error(self.path, f"directory {str(directory)!r} {what}", (key, index), self.doc)
            return None
        real = real_path(directory) or directory
        inside = self.real_root if is_within(Path(os.path.normpath(directory)), self.root) else real
        if not is_within(real, inside):
            self.error(self.path, f"directory {folder!r} is a link to {real}, outside the project directory "
                                  f"{inside}; links must stay inside it", (key, index), self.doc)
            return None
        return directory, inside

    def yaml_files(self, key: str, index: int, folder: str) -> Iterator[Path]:
        """YAML files of one configured folder, in name order; a missing folder is an error.

        Entries left out are warnings; links out of the project are errors. A folder written as a
        path inside the project must really be inside it; one written outside it (``/srv/shared``,
        ``../common``) was chosen on purpose, and its files must stay within it instead.
        """
        found = self.folder(key, index, folder)
        if found is None:
            return
        directory, inside = found
        listing = list_folder(directory, inside)
        for entry, problem in listing.refused:
            self.error(entry, problem)
        for entry, why in listing.skipped:
            self.warn(entry, why)
        yield from listing.files

    def lint(self, file: Path, doc: Document, expanded: str | None = None) -> None:
        """The warnings of one file that parsed as a mapping (see interlock.config.lint)."""
        problems = lint.env_references(doc.data, self.env, expanded)
        if expanded is not None:  # a pipeline file
            problems = lint.ignored_fields(doc.data) + problems
        for path, message in problems:
            self.warn(file, message, path, doc)

    # -- the steps --------------------------------------------------------------------------------

    def run(self) -> Project:
        project = self.base(stop_on_errors=False)  # every error of the project is reported at once
        self.load_pipelines(project)
        if self.errors:
            raise ConfigInvalid(_by_file_and_line(self.errors), _by_file_and_line(self.warnings))
        project.warnings = _by_file_and_line(self.warnings)
        return project

    def base(self, stop_on_errors: bool = True) -> Project:
        """interlock.yaml, the archetypes and the calendars: raise ConfigInvalid on any error in them
        (with ``stop_on_errors``; else only when interlock.yaml itself cannot be read)."""
        if not self.path.is_file():
            hint = "run 'interlock init DIR' to create a project, or pass --config PATH"
            what = "is a directory" if self.path.is_dir() else "not found"
            raise ConfigInvalid([ConfigError(self.name(self.path), f"config file {what}; {hint}")])
        doc = self.read(self.path, "project configuration")
        config = self.validate(ProjectConfig, self.path, doc) if doc else None
        if config is None or doc is None:
            raise ConfigInvalid(self.errors)
        self.doc = doc
        self.lint(self.path, doc)
        for path, message in lint.shared_key_prefix(doc.data, DEFAULT_KEY_PREFIX):
            self.warn(self.path, message, path, doc)
        self.check_project(config)
        settings = build_settings(config, self.path, self.env)
        self.read_digests[self.path] = self.last_digest
        project = Project(config=config, settings=settings)
        self.load_archetypes(project)
        self.load_calendars(project)
        if self.errors and stop_on_errors:
            raise ConfigInvalid(_by_file_and_line(self.errors), _by_file_and_line(self.warnings))
        return project

    def check_redis(self, config: ProjectConfig, doc: Document | None) -> None:
        """``redis``: one server (addr) or a Sentinel group, not both; a usable ``sentinel://`` URL."""
        cfg = config.redis
        if cfg is not None and cfg.addr and cfg.sentinel:
            self.error(self.path, "give addr (one server) or sentinel (a Sentinel group), not both",
                       ("redis", "sentinel"), doc)
        elif cfg is not None and not cfg.addr and not cfg.sentinel and not self.env.get(ENV_REDIS_URL):
            self.error(self.path, f"field required (or give sentinel for a Sentinel group, or set {ENV_REDIS_URL})",
                       ("redis", "addr"), doc)
        try:
            sentinel_target(cfg, self.env)
        except ValueError as exc:
            self.errors.append(ConfigError(f"${ENV_REDIS_URL}", str(exc)))

    def check_project(self, config: ProjectConfig) -> None:
        doc = self.doc
        if config.provider is Provider.REDIS and config.redis is None and not self.env.get(ENV_REDIS_URL):
            self.error(self.path, f"required when provider is redis (or set {ENV_REDIS_URL})", ("redis",), doc)
        self.check_redis(config, doc)
        if config.provider is Provider.DYNAMODB and config.dynamodb is None:
            self.error(self.path, "required when provider is dynamodb", ("dynamodb",), doc)
        required = {
            AlertType.WEBHOOK: "url",
            AlertType.FILE: "path",
            AlertType.SNS: "topicArn",
            AlertType.S3: "bucketName",
        }
        for i, alert in enumerate(config.alerts or []):
            for key in (("token", "channel") if alert.type is AlertType.SLACK else (required.get(alert.type),)):
                if key and not alert.to_json().get(key):
                    self.error(self.path, f"required for a {alert.type} sink", ("alerts", i, key), doc)
            if alert.type is AlertType.SLACK:
                self.check_slack(config, alert, i)
            if alert.type is AlertType.WEBHOOK and alert.url:
                try:
                    check_url(alert.url, using=config.outbound_policy())
                except BlockedURL as exc:
                    self.error(self.path, str(exc), ("alerts", i, "url"), doc)

    def check_slack(self, config: ProjectConfig, alert: AlertConfig, i: int) -> None:
        """A slack sink's token is a variable (never the secret itself) and its API URL is allowed."""
        if alert.token and not TOKEN_REFERENCE.match(alert.token):
            self.error(self.path, "must be one ${INTERLOCK_*} variable such as ${INTERLOCK_SLACK_TOKEN}, not the "
                                  "token itself (a token in the file ends up in version control)",
                       ("alerts", i, "token"), self.doc)
        try:
            check_url(alert.api_url or DEFAULT_API_URL, using=config.outbound_policy())
        except BlockedURL as exc:
            self.error(self.path, str(exc), ("alerts", i, "apiUrl"), self.doc)

    def load_archetypes(self, project: Project) -> None:
        seen: dict[str, Path] = {}
        for i, folder in enumerate(project.config.archetype_dirs):
            for file in self.yaml_files("archetypeDirs", i, folder):
                doc = self.read(file, "archetype")
                self.read_digests[file] = self.last_digest if doc else "unreadable"
                archetype = self.validate(Archetype, file, doc) if doc else None
                if archetype is not None and doc is not None:
                    self.lint(file, doc)
                if archetype is None or doc is None:
                    continue
                if not self.check_archetype(archetype, file, doc):
                    continue
                if not self.first_definition("archetype", archetype.name, file, doc, seen):
                    continue
                project.archetypes[archetype.name] = archetype
                project.sources[f"archetype:{archetype.name}"] = file

    def first_definition(self, kind: str, name: str, file: Path, doc: Document, seen: dict[str, Path]) -> bool:
        """Note that ``file`` defines ``name``; False (with an error) when an earlier file defined it."""
        if name in seen:
            self.error(file, f"{kind} {name!r} is already defined in {self.name(seen[name])}", ("name",), doc)
            return False
        seen[name] = file
        return True

    def check_archetype(self, archetype: Archetype, file: Path, doc: Document) -> bool:
        ok = True
        types: set[str] = set()
        for key, traits in (("requiredTraits", archetype.required_traits),
                            ("optionalTraits", archetype.optional_traits or [])):
            for i, trait in enumerate(traits):
                if trait.type in types:
                    self.error(file, f"duplicate trait type {trait.type!r}", (key, i, "type"), doc)
                    ok = False
                types.add(trait.type)
        for key, traits in (("requiredTraits", archetype.required_traits),
                            ("optionalTraits", archetype.optional_traits or [])):
            for i, trait in enumerate(traits):
                raw_rules = (trait.default_config or {}).get("rules")
                for path, message in rules.problems(raw_rules) if raw_rules is not None else []:
                    self.error(file, message, (key, i, "defaultConfig", "rules", *path), doc)
                    ok = False
        rule = archetype.readiness_rule
        params = dict(rule.parameters or {})
        path = ("readinessRule", "parameters")
        if rule.type is ReadinessRuleType.MAJORITY_PASS:
            unknown = sorted(set(params) - {"threshold"})
            for name in unknown:
                self.error(file, f"unknown parameter{did_you_mean(name, ['threshold'])}", (*path, name), doc)
                ok = False
            if "threshold" in params:
                problem = threshold_problem(params["threshold"], len(archetype.required_traits))
                if problem:
                    self.error(file, problem, (*path, "threshold"), doc)
                    ok = False
        elif params:
            self.error(file, f"{rule.type} takes no parameters", path, doc)
            ok = False
        return ok

    def load_calendars(self, project: Project) -> None:
        seen: dict[str, Path] = {}
        for i, folder in enumerate(project.config.calendar_dirs or []):
            for file in self.yaml_files("calendarDirs", i, folder):
                doc = self.read(file, "calendar")
                self.read_digests[file] = self.last_digest if doc else "unreadable"
                calendar = self.validate(Calendar, file, doc) if doc else None
                if calendar is not None and doc is not None:
                    self.lint(file, doc)
                if calendar is None or doc is None:
                    continue
                if not self.first_definition("calendar", calendar.name, file, doc, seen):
                    continue
                project.calendars[calendar.name] = calendar

    def pipeline_files(self, project: Project) -> list[Path]:
        """Every pipeline file of every configured folder, in load order (listing problems recorded)."""
        return [file for i, folder in enumerate(project.config.pipeline_dirs)
                for file in self.yaml_files("pipelineDirs", i, folder)]

    def pipeline_paths(self, project: Project) -> list[str]:
        """:meth:`pipeline_files` as strings, listed without a stat per file where no entry is a link."""
        paths: list[str] = []
        for i, folder in enumerate(project.config.pipeline_dirs):
            found = self.folder("pipelineDirs", i, folder)
            if found is None:
                continue
            plain = plain_listing(found[0])
            if plain is None:
                paths.extend(str(file) for file in self.yaml_files("pipelineDirs", i, folder))
            else:
                paths.extend(plain)
        return paths

    def load_pipelines(self, project: Project) -> None:
        seen: dict[str, Path] = {}
        pipelines: dict[str, PipelineConfig] = {}
        project.pipelines = pipelines
        for check in self.check_pipeline_files(project, self.pipeline_files(project)):
            self.errors.extend(check.errors)
            self.warnings.extend(check.warnings)
            pipeline, file = check.pipeline, check.file
            if pipeline is None:
                continue
            if pipeline.name in seen:
                self.errors.append(ConfigError(self.name(file), f"pipeline {pipeline.name!r} is already defined in "
                                               f"{self.name(seen[pipeline.name])}", "name", check.name_line))
                continue
            seen[pipeline.name] = file
            pipelines[pipeline.name] = pipeline
            project.sources[f"pipeline:{pipeline.name}"] = file
            if check.digest is not None:
                project.digests[pipeline.name] = check.digest
            self.checked.append(check)

    def check_pipeline_files(self, project: Project, files: list[Path]) -> Iterator[FileCheck]:
        """:meth:`check_pipeline_file` of each file, in order: in a pool of processes when it pays.

        The pool forks (the children inherit this loading and its project, nothing is pickled on
        the way in) and is used only when no other thread runs: forking a threaded process can
        leave a lock held in the child. Each child runs the very same per-file check, and results
        come back in file order, so errors and warnings are those of the serial path.
        """
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        parallel = self.parallel if self.parallel is not None else len(files) >= PARALLEL_MIN_FILES
        if not parallel or cores < 2 or threading.active_count() > 1 \
                or "fork" not in multiprocessing.get_all_start_methods():
            for done, file in enumerate(files, 1):
                yield self.check_pipeline_file(project, file)
                if self.progress and (done % 500 == 0 or done == len(files)):
                    self.progress(done, len(files))
            return
        global _IN_CHILD
        _IN_CHILD = (self, project)
        try:
            with multiprocessing.get_context("fork").Pool(cores) as pool:
                chunk = max(1, min(500, len(files) // (cores * 8)))
                for done, check in enumerate(pool.imap(_check_in_child, files, chunksize=chunk), 1):
                    yield check
                    if self.progress and (done % 500 == 0 or done == len(files)):
                        self.progress(done, len(files))
        finally:
            _IN_CHILD = None

    def check_pipeline_file(self, project: Project, file: Path) -> FileCheck:
        """Read and validate one pipeline file against the project's archetypes and calendars."""
        errors, warnings = self.errors, self.warnings
        self.errors, self.warnings = [], []
        try:
            stat = _stat_of(file)
            self.last_digest = ""
            doc = self.read(file, "pipeline")
            digest = self.last_digest or None
            pipeline = self.validate(PipelineConfig, file, doc) if doc else None
            if pipeline is not None and doc is not None:
                self.lint(file, doc, expanded="trigger")
            problems = check_pipeline(doc.data, project) if doc else []
            for path, message in problems:
                self.error(file, message, path, doc)
            ok = pipeline is not None and doc is not None and not problems
            executables, volatile = _external_refs(doc.data) if doc else ([], False)
            return FileCheck(file, pipeline if ok else None, self.errors, self.warnings, digest, stat,
                             executables, volatile, doc.line_of(("name",)) if doc else None)
        finally:
            self.errors, self.warnings = errors, warnings


# The loading and project a forked validation child works for (set by check_pipeline_files).
_IN_CHILD: tuple[_Loading, Project] | None = None


def _check_in_child(file: Path) -> FileCheck:
    assert _IN_CHILD is not None
    loading, project = _IN_CHILD
    return loading.check_pipeline_file(project, file)


def _stat_of(file: Path) -> tuple[int, int, int, int] | None:
    try:
        st = file.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _external_refs(data: Any) -> tuple[list[str], bool]:
    """The evaluator refs a pipeline resolves on the file system or PATH, and whether it uses a plugin.

    A cached verdict on the file holds only while these still resolve (interlock/config/index.py
    checks them again on every open); a plugin's checks run installed code, so a file that uses
    one is validated on every open.
    """
    found: list[str] = []
    volatile = False
    traits = data.get("traits") if isinstance(data, dict) else None
    for trait in (traits.values() if isinstance(traits, dict) else []):
        evaluator = trait.get("evaluator") if isinstance(trait, dict) else None
        if not isinstance(evaluator, str):
            continue
        kind = evaluator_refs.classify(evaluator.strip())
        if kind is evaluator_refs.EvaluatorKind.PLUGIN:
            volatile = True
        elif kind is evaluator_refs.EvaluatorKind.COMMAND and evaluator not in found:
            found.append(evaluator)
    trigger = data.get("trigger") if isinstance(data, dict) else None
    if isinstance(trigger, dict) and str(trigger.get("type")) == TriggerType.PLUGIN.value:
        volatile = True
    return found, volatile


def _by_file_and_line(errors: list[ConfigError]) -> list[ConfigError]:
    """Files in the order they were read, each file's errors top to bottom."""
    order: dict[str, int] = {}
    for e in errors:
        order.setdefault(e.file, len(order))
    return sorted(errors, key=lambda e: (order[e.file], e.line or 0))


def threshold_problem(value: Any, required: int) -> str | None:
    """Why a majority-pass ``threshold`` is unusable, or None when it is a whole number 1..n."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"must be a whole number of required traits (1..{required}), got {value!r}"
    if value != int(value):
        return f"must be a whole number of required traits (1..{required}), got {value}"
    if not 1 <= int(value) <= required:
        return f"must be between 1 and {required} (the number of required traits), got {int(value)}"
    return None


def check_pipeline(data: Mapping[str, Any], project: Project) -> list[tuple[tuple[Any, ...], str]]:
    """Checks that need more than one field, or other files: (field path, message) pairs.

    Works on the raw mapping (as read from YAML or JSON), so it runs — and reports — even when the
    field-level validation of the same pipeline failed. Wrong types are left to that validation.
    Shared by file loading and API registration, so both accept and reject the same things.
    """
    problems: list[tuple[tuple[Any, ...], str]] = []
    archetype_name = data.get("archetype")
    archetype = project.archetypes.get(archetype_name) if isinstance(archetype_name, str) else None
    if isinstance(archetype_name, str) and archetype_name and archetype is None:
        hint = did_you_mean(archetype_name, project.archetypes)
        known = ", ".join(sorted(project.archetypes)) or "none loaded"
        problems.append((("archetype",), f"unknown archetype {archetype_name!r}{hint} (known: {known})"))
    traits = data.get("traits")
    for trait_type, trait in (traits.items() if isinstance(traits, dict) else []):
        if archetype is not None and trait_type not in archetype.trait_types():
            hint = did_you_mean(str(trait_type), archetype.trait_types())
            problems.append((("traits", trait_type),
                             f"trait not defined by archetype {archetype.name!r}{hint}; "
                             f"it defines: {', '.join(archetype.trait_types())}"))
        evaluator = trait.get("evaluator") if isinstance(trait, dict) else None
        if isinstance(evaluator, str) and evaluator:
            try:
                evaluator_refs.resolve(evaluator, project.root, project.evaluator_dirs())
            except ValueError as exc:
                problems.append((("traits", trait_type, "evaluator"), str(exc)))
        config = _merged_config(archetype, str(trait_type), trait)
        if config is not None:
            where = ("traits", trait_type, "config")
            problems.extend(((*where, *path), message) for path, message in
                            evaluator_configs.problems(evaluator if isinstance(evaluator, str) else None, config,
                                                       project.root))
    problems.extend(_trigger_problems(data.get("trigger")))
    start_trait = data.get("dryRunStartTrait")
    if isinstance(start_trait, str) and start_trait and archetype is not None \
            and start_trait not in archetype.trait_types():
        problems.append((("dryRunStartTrait",),
                         f"trait {start_trait!r} is not defined by archetype {archetype.name!r} (so it cannot be "
                         f"pushed); it defines: {', '.join(archetype.trait_types())}"))
    schedules = data.get("schedules")
    seen: dict[str, int] = {}
    for i, schedule in enumerate(schedules if isinstance(schedules, list) else []):
        name = schedule.get("name") if isinstance(schedule, dict) else None
        if not isinstance(name, str):
            continue
        if name in seen:
            problems.append((("schedules", i, "name"),
                             f"duplicate schedule name {name!r} (first at schedules[{seen[name]}])"))
        seen.setdefault(name, i)
    problems.extend(schedule_problems(data, project.settings.retention_ttl))
    problems.extend(inclusion_and_force_problems(data, project.calendars))
    exclusions = data.get("exclusions")
    calendar = exclusions.get("calendar") if isinstance(exclusions, dict) else None
    if isinstance(calendar, str) and calendar.startswith(HOLIDAYS_PREFIX):
        try:
            parse_holiday_calendar(calendar)
        except ValueError as exc:
            problems.append((("exclusions", "calendar"), str(exc)))
    elif isinstance(calendar, str) and calendar not in project.calendars:
        hint = did_you_mean(calendar, project.calendars)
        known = ", ".join(sorted(project.calendars)) or "none loaded"
        problems.append((("exclusions", "calendar"), f"unknown calendar {calendar!r}{hint} (known: {known})"))
    return problems


def _merged_config(archetype: Archetype | None, trait_type: str, trait: Any) -> dict[str, Any] | None:
    """The trait's config as it will be evaluated (archetype defaults, then the pipeline's keys); None if unusable."""
    own = trait.get("config") if isinstance(trait, dict) else None
    if own is not None and not isinstance(own, dict):
        return None  # the field validation reports it
    merged: dict[str, Any] = {}
    definitions = [*archetype.required_traits, *(archetype.optional_traits or [])] if archetype else []
    for definition in definitions:
        if definition.type == trait_type:
            merged.update(definition.default_config or {})
    merged.update(own or {})
    return merged


# Each trigger type's block as it may be spelled (snake_case, camelCase), worked out once.
_BLOCK_SPELLINGS = {kind: (key, to_camel(key)) for kind, (_, key, _) in TRIGGER_BLOCKS.items()}


def _trigger_problems(trigger: Any) -> list[tuple[tuple[Any, ...], str]]:
    """The block named by ``trigger.type`` must be there, and no other block may be."""
    if not isinstance(trigger, dict):
        return []
    try:
        kind = TriggerType(str(trigger.get("type")))
    except ValueError:
        return []
    normal = normalise_trigger(trigger)  # shorthand and flat legacy forms hoisted
    key = TRIGGER_BLOCKS[kind][1]
    problems: list[tuple[tuple[Any, ...], str]] = []
    for other, spellings in _BLOCK_SPELLINGS.items():
        spelled = [k for k in spellings if normal.get(k) is not None]
        if other is not kind and spelled:
            problems.append((("trigger", spelled[0]),
                             f"block does not match trigger.type {kind.value!r} "
                             f"(set type: {other.value}, or rename the block to {key!r})"))
    if all(normal.get(k) is None for k in _BLOCK_SPELLINGS[kind]):
        problems.append((("trigger", key), f"required for trigger type {kind.value!r}"))
    if kind is TriggerType.PLUGIN:
        problems.extend((("trigger", "plugin", *path), message)
                        for path, message in evaluator_configs.trigger_problems(normal))
    return problems
