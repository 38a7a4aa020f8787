"""What a trait's ``evaluator:`` string refers to.

* empty or ``push``     — no evaluator: the trait's latest *pushed* result decides it.
* ``builtin:<name>``    — an evaluator that runs in-process.
* ``plugin:<name>``     — an evaluator from an installed package (entry point group
  ``interlock.evaluators``, see :mod:`interlock.plugins`).
* ``http(s)://...``     — an HTTP evaluator.
* a path with ``/``     — an executable, relative paths resolved against the config file's folder.
* a bare name           — an executable looked up in ``evaluatorDirs``, then on ``PATH``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class EvaluatorKind(StrEnum):
    PUSH = "push"
    BUILTIN = "builtin"
    PLUGIN = "plugin"
    HTTP = "http"
    COMMAND = "command"


BUILTIN_PREFIX = "builtin:"
PLUGIN_PREFIX = "plugin:"


@dataclass(frozen=True)
class EvaluatorRef:
    kind: EvaluatorKind
    target: str  # builtin name, URL, or absolute executable path


def classify(ref: str | None) -> EvaluatorKind:
    """The kind of evaluator ``ref`` names, without touching the file system."""
    ref = (ref or "").strip()
    if ref in ("", "push"):
        return EvaluatorKind.PUSH
    if ref.startswith(BUILTIN_PREFIX):
        return EvaluatorKind.BUILTIN
    if ref.startswith(PLUGIN_PREFIX):
        return EvaluatorKind.PLUGIN
    if ref.startswith(("http://", "https://")):
        return EvaluatorKind.HTTP
    return EvaluatorKind.COMMAND


def resolve(ref: str | None, root: Path, evaluator_dirs: Sequence[Path]) -> EvaluatorRef:
    """Resolve ``ref``; raise ValueError saying where it looked when an executable is not found."""
    text = (ref or "").strip()
    kind = classify(text)
    if kind is EvaluatorKind.PUSH:
        return EvaluatorRef(kind, "")
    if kind is EvaluatorKind.BUILTIN:
        from interlock.evaluators.builtin import BUILTINS  # the registry is the list of names

        name = text[len(BUILTIN_PREFIX):]
        if name not in BUILTINS:
            raise ValueError(f"unknown builtin evaluator {name!r}; known: {', '.join(sorted(BUILTINS))}")
        return EvaluatorRef(kind, name)
    if kind is EvaluatorKind.PLUGIN:
        from interlock import plugins  # loading checks that it is installed and implements the protocol

        name = text[len(PLUGIN_PREFIX):]
        plugins.load(plugins.EVALUATORS, name)  # PluginError is a ValueError naming the installed ones
        return EvaluatorRef(kind, name)
    if kind is EvaluatorKind.HTTP:
        return EvaluatorRef(kind, text)
    if "/" in text:
        path = Path(text) if os.path.isabs(text) else root / text
        _check_executable(path, text)
        return EvaluatorRef(kind, str(path.resolve()))
    for folder in evaluator_dirs:
        candidate = folder / text
        if candidate.is_file():
            _check_executable(candidate, text)
            return EvaluatorRef(kind, str(candidate.resolve()))
    found = shutil.which(text)
    if found:
        return EvaluatorRef(kind, found)
    looked = ", ".join(str(d) for d in evaluator_dirs) or "no evaluatorDirs"
    raise ValueError(f"evaluator {text!r} not found (looked in {looked}, then PATH)")


def in_evaluator_dirs(ref: str | None, root: Path, evaluator_dirs: Sequence[Path]) -> bool:
    """Whether the executable ``ref`` names a file inside one of the project's ``evaluatorDirs``.

    Judged on the path as written and normalised (``..`` collapsed), not on where symlinks lead: a
    link the project's owner put in an evaluator folder counts as inside. A name found only on
    ``PATH``, or a path anywhere else, does not.
    """
    text = (ref or "").strip()
    folders = [Path(os.path.normpath(folder)) for folder in evaluator_dirs]
    if "/" not in text:
        return any((folder / text).is_file() for folder in folders) if text not in ("", ".", "..") else False
    candidate = Path(os.path.normpath(text if os.path.isabs(text) else root / text))
    return candidate.is_file() and any(candidate.is_relative_to(folder) for folder in folders)


def _check_executable(path: Path, text: str) -> None:
    if not path.is_file():
        raise ValueError(f"evaluator {text!r} not found: {path} does not exist")
    if not os.access(path, os.X_OK):
        raise ValueError(f"evaluator {text!r} is not executable: run chmod +x {path}")
