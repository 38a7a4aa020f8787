"""``interlock init DIR``: write a starter project that validates and can become READY.

The reference's scaffold did neither (its example pipeline did not parse, and two of its three
required traits had no evaluator). Here every required trait of the example has an evaluator
in ``evaluators/``, and the source it checks is written fresh.
"""

from __future__ import annotations

import os
import re
import shutil
from importlib import resources
from pathlib import Path

# Files a folder may already hold without counting as "a project" (init refuses to overwrite one).
_PROJECT_MARKERS = ("interlock.yaml", "archetypes", "pipelines", "evaluators", "calendars")

# A project name becomes part of every Redis key (``interlock:NAME:``): no separators, no spaces.
PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# The line of the packaged interlock.yaml that init rewrites with the project's own prefix.
_PREFIX_LINE = '  keyPrefix: "interlock:"\n'


class ScaffoldError(Exception):
    """The target cannot take a new project."""


def project_name(target: Path, name: str | None = None) -> str:
    """The project's name: ``name`` if given, else the target folder's name; ScaffoldError if unusable."""
    chosen = name if name is not None else Path(os.path.abspath(target)).name
    if not PROJECT_NAME.match(chosen):
        where = "--name" if name is not None else f"the folder name {chosen!r}"
        raise ScaffoldError(f"{where} cannot name a project: use 1 to 63 letters, digits, '_', '.' or '-', "
                            "starting with a letter or digit (pass --name NAME) — nothing was changed")
    return chosen


def init_project(target: Path, name: str | None = None) -> list[Path]:
    """Create a project in ``target`` (created if missing); return the files written.

    The project's Redis keys live under ``interlock:NAME:`` (NAME: ``name`` or the folder's name),
    so two projects on one Redis never see each other's pipelines or runs.
    Raises ScaffoldError when ``target`` already holds a project or is not a directory, or when
    the name cannot be part of a key prefix.
    """
    key_name = project_name(target, name)
    if target.exists() and not target.is_dir():
        raise ScaffoldError(f"{target} exists and is not a directory")
    existing = [name for name in _PROJECT_MARKERS if (target / name).exists()]
    if existing:
        raise ScaffoldError(
            f"{target} already holds a project ({', '.join(existing)}); "
            "choose an empty or new directory — nothing was changed"
        )
    source = resources.files("interlock") / "scaffold"
    written: list[Path] = []
    target.mkdir(parents=True, exist_ok=True)
    with resources.as_file(source) as src:
        for path in sorted(Path(src).rglob("*")):
            if "__pycache__" in path.parts:
                continue
            dest = target / path.relative_to(src)
            if path.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            if path.parent.name == "evaluators":
                dest.chmod(0o755)
            written.append(dest)
    config = target / "interlock.yaml"
    text = config.read_text()
    if _PREFIX_LINE not in text:  # the packaged file and this function must change together
        raise AssertionError("the packaged interlock.yaml has no default keyPrefix line to rewrite")
    config.write_text(text.replace(_PREFIX_LINE, f'  keyPrefix: "interlock:{key_name}:"\n'))
    (target / "data" / "markers").mkdir(parents=True, exist_ok=True)
    # Copying keeps the package's old mtime; the example's freshness check needs a fresh source.
    os.utime(target / "data" / "orders.csv")
    return written
