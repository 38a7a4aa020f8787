"""Which files of a configured folder are read, which are skipped and why, which are refused.

The rules (as the reference loader had them): one folder level, files whose name ends in ``.yaml`` or ``.yml``
(case-sensitive; hidden files included), in name order. It said nothing about what it left out and
followed links anywhere. Here every entry that is left out is reported (``interlock validate`` lists
it, ``--strict`` makes it an error), and a link that leaves the project is refused: a
``pipelines/x.yaml`` pointing at ``/etc/shadow`` must not be read, let alone quoted in errors.

Hidden entries that would not be read anyway (``.gitkeep``, ``.git/``, editor swap and lock
files) are left out silently: listing them would only make ``--strict`` fail while someone edits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass
class Listing:
    """The outcome of looking at one folder."""

    files: list[Path] = field(default_factory=list)  # to read, in name order
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (entry, why it is not read)
    refused: list[tuple[Path, str]] = field(default_factory=list)  # (entry, why it is an error)


def is_within(path: Path, base: Path) -> bool:
    return path == base or base in path.parents


def real_path(path: Path) -> Path | None:
    """``path`` with every link followed, or None when that cannot be done (a loop)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # Python < 3.13 raises RuntimeError on a link loop
        return None


def escaping_link(entry: Path, inside: Path) -> str | None:
    """Why ``entry`` is refused when it is a link leading out of ``inside``, else None."""
    if not entry.is_symlink():
        return None
    target = os.readlink(entry)
    real = real_path(entry)
    if real is None:
        return f"a link to {target} that cannot be followed (a loop?)"
    if is_within(real, inside):
        return None
    shown = target if str(real) == target else f"{target} ({real})"
    return f"a link to {shown}, outside the project directory {inside}; links must stay inside it"


def list_folder(directory: Path, inside: Path) -> Listing:
    """Sort the entries of ``directory`` into files to read, skipped and refused entries.

    ``inside`` is the real path every file read must stay within (the project directory).
    """
    listing = Listing()
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        problem = escaping_link(entry, inside)
        if problem:
            listing.refused.append((entry, problem))
            continue
        if entry.is_file() and entry.name.endswith(YAML_SUFFIXES):
            listing.files.append(entry)
            continue
        if entry.name.startswith("."):
            continue
        listing.skipped.append((entry, _why_skipped(entry, directory)))
    return listing


def plain_listing(directory: Path) -> list[str] | None:
    """The paths :func:`list_folder` would read, as strings, when no entry is a link; else None.

    One ``scandir`` and no stat per entry (the entry types come with the listing): the index
    (interlock/config/index.py) lists 50 000 files this way. A link needs :func:`list_folder`'s
    checks, so any link makes the caller use it instead.
    """
    found: list[tuple[str, str]] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_symlink():
                return None
            if entry.name.endswith(YAML_SUFFIXES) and entry.is_file(follow_symlinks=False):
                found.append((entry.name, entry.path))
    found.sort()
    return [path for _, path in found]


def _why_skipped(entry: Path, directory: Path) -> str:
    if entry.is_dir():
        return f"skipped: a folder (only files directly in {directory.name}/ are read)"
    if entry.is_symlink() and not entry.exists():
        return f"skipped: a link to {os.readlink(entry)}, which does not exist"
    if not entry.is_file():
        return "skipped: not a regular file"
    if entry.name.lower().endswith(YAML_SUFFIXES):
        return "skipped: only lower-case .yaml and .yml files are read (as by the reference); rename it"
    return "skipped: not a .yaml or .yml file"
