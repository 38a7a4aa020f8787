"""``interlock init DIR``: write a starter project that validates and can become READY.

The reference's scaffold did neither (its example pipeline did not parse, and two of its three
required traits had no evaluator). Here every required trait of the example has an evaluator
in ``evaluators/``, and the source it checks is written fresh.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path

# Files a folder may already hold without counting as "a project" (init refuses to overwrite one).
_PROJECT_MARKERS = ("interlock.yaml", "archetypes", "pipelines", "evaluators", "calendars")


class ScaffoldError(Exception):
    """The target cannot take a new project."""


def init_project(target: Path) -> list[Path]:
    """Create a project in ``target`` (created if missing); return the files written.

    Raises ScaffoldError when ``target`` already holds a project or is not a directory.
    """
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
    (target / "data" / "markers").mkdir(parents=True, exist_ok=True)
    # Copying keeps the package's old mtime; the example's freshness check needs a fresh source.
    os.utime(target / "data" / "orders.csv")
    return written
