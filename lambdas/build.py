"""Build the Lambda deployment zips: ``python -m lambdas.build [--config PATH] [--out DIR] [--no-deps]``.

One zip per handler module (``dist/lambda/<module>.zip``, handler ``lambdas.<module>.handler``), each
holding ``interlock/``, ``lambdas/``, the project folder of ``--config`` as ``config/`` (so the
default ``INTERLOCK_CONFIG=/var/task/config/interlock.yaml`` finds it) and the runtime dependencies
for Linux arm64 / CPython 3.12, fetched as wheels only (no compiler, no local platform leaking in).

boto3 is not bundled: the Lambda Python runtime provides it. Server-side packages the handlers never
import (Celery, Redis, FastAPI, SQLAlchemy ...) are left out to keep the zip small. The zips are
reproducible: sorted entries, fixed timestamps, so Terraform's source hash changes only with content.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "interlock" / "scaffold" / "interlock.yaml"
DEFAULT_OUT = REPO / "dist" / "lambda"
HANDLERS = ("orchestrator", "evaluator", "trigger", "run_checker", "stream_router", "watchdog")
PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.12"
# Distributions of pyproject's dependencies that only the local/server deployment imports.
SERVER_ONLY = {"redis", "celery", "kombu", "packaging", "flower", "sqlalchemy", "alembic", "psycopg2-binary",
               "fastapi", "uvicorn"}
# Never copied into a zip (caches, virtualenvs, VCS data, build output).
SKIP_PARTS = {"__pycache__", ".git", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", "dist", "node_modules"}
# Every entry gets this timestamp: a rebuild of the same sources gives the same bytes.
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def requirements(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """pyproject's runtime dependencies minus the server-only ones."""
    deps: list[str] = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [d for d in deps if _dist_name(d) not in SERVER_ONLY]


def _dist_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", requirement)
    return match.group(0).lower().replace("_", "-") if match else requirement


def install_deps(target: Path, reqs: Sequence[str]) -> None:
    """Wheels for Linux arm64 / CPython 3.12 into ``target`` (pip, binary only)."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--platform", PLATFORM,
                    "--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp",
                    "--target", str(target), *reqs], check=True)


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not SKIP_PARTS.intersection(path.relative_to(root).parts):
            yield path


def _add(archive: zipfile.ZipFile, path: Path, name: str) -> None:
    info = zipfile.ZipInfo(name, ZIP_TIME)
    info.external_attr = (path.stat().st_mode & 0o777 | 0o100000) << 16  # keep evaluators executable
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, path.read_bytes())


def write_zip(dest: Path, config_dir: Path, deps_dir: Path | None) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w") as archive:
        if deps_dir is not None:
            for path in _files(deps_dir):
                _add(archive, path, path.relative_to(deps_dir).as_posix())
        for package in ("interlock", "lambdas"):
            for path in _files(REPO / package):
                if package == "lambdas" and path.name == "build.py":
                    continue
                _add(archive, path, path.relative_to(REPO).as_posix())
        for path in _files(config_dir):
            _add(archive, path, f"config/{path.relative_to(config_dir).as_posix()}")


def build(config: Path = DEFAULT_CONFIG, out: Path = DEFAULT_OUT, with_deps: bool = True) -> list[Path]:
    """Write ``out/<module>.zip`` for every handler; return their paths.

    ``config`` is the project's interlock.yaml; its folder is bundled as ``config/`` and the file
    itself becomes ``config/interlock.yaml``.
    """
    config = config.resolve()
    if not config.is_file():
        raise FileNotFoundError(f"no project configuration at {config}")
    with tempfile.TemporaryDirectory(prefix="interlock-lambda-") as tmp:
        staging = Path(tmp)
        config_dir = staging / "config"
        shutil.copytree(config.parent, config_dir, ignore=shutil.ignore_patterns(*SKIP_PARTS), symlinks=False)
        if config.name != "interlock.yaml":
            shutil.copy2(config, config_dir / "interlock.yaml")
        deps_dir = None
        if with_deps:
            deps_dir = staging / "deps"
            install_deps(deps_dir, requirements())
        built = []
        for module in HANDLERS:
            dest = out / f"{module}.zip"
            write_zip(dest, config_dir, deps_dir)
            built.append(dest)
        return built


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lambdas.build", description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the project's interlock.yaml")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the zips go")
    parser.add_argument("--no-deps", action="store_true", help="leave out third-party packages (tests)")
    args = parser.parse_args(argv)
    for path in build(args.config, args.out, with_deps=not args.no_deps):
        print(f"{path}  ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
