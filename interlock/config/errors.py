"""Configuration errors that say where (file, line, field path) and what to do.

Every problem found while loading a project becomes one :class:`ConfigError`; loading collects
them all instead of stopping at the first, so one ``interlock validate`` run shows everything.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from interlock.config.yamlio import Document, Path

__all__ = ["ConfigError", "ConfigInvalid", "accepts_key", "did_you_mean", "format_path", "from_validation_error"]


@dataclass(frozen=True)
class ConfigError:
    """One problem in one file: ``FILE[:LINE]: FIELD.PATH: MESSAGE``."""

    file: str
    message: str
    path: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message}


class ConfigInvalid(Exception):
    """Raised when a project has one or more configuration errors (and the warnings found with them)."""

    def __init__(self, errors: Iterable[ConfigError], warnings: Iterable[ConfigError] = ()) -> None:
        self.errors = list(errors)
        self.warnings = list(warnings)
        super().__init__("\n".join(str(e) for e in self.errors))


def format_path(path: Path) -> str:
    """``("schedules", 1, "name")`` -> ``schedules[1].name``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a close choice exists, else an empty string."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def display_name(path: FsPath, base: FsPath | None = None) -> str:
    """A file name as a person wants to read it: relative to ``base`` or the CWD when inside.

    The file's own name is kept as written: a link is named as the link, not as what it points to.
    """
    real = path.absolute().parent.resolve() / path.name
    for root in (base, FsPath.cwd()):
        if root is None:
            continue
        try:
            return str(real.relative_to(root.resolve()))
        except ValueError:
            continue
    return str(path)


def from_validation_error(
    exc: ValidationError, model: type[BaseModel], file: str, doc: Document | None, prefix: Path = ()
) -> list[ConfigError]:
    """Turn pydantic's errors into ConfigErrors with field paths, lines and plain messages."""
    errors = []
    for err in exc.errors(include_url=False):
        loc: Path = (*prefix, *err["loc"])
        rel = tuple(err["loc"])
        # Skip the internal "function-after[...]" / union-member segments pydantic sometimes adds.
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p and "]" in p)))
        message = _message(err, model, rel)
        line = doc.line_of(loc) if doc else None
        errors.append(ConfigError(file=file, path=format_path(loc), message=message, line=line))
    return errors


def _message(err: Any, model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    kind = err["type"]
    value = err.get("input")
    got = _kind(value)
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        hint = did_you_mean(str(loc[-1]), allowed) if allowed else ""
        return f"unknown key{hint}" + (f"; allowed keys: {', '.join(sorted(allowed))}" if not hint and allowed else "")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping, got {got}"
    if kind == "list_type":
        return f"expected a list, got {got}"
    if kind == "string_type":
        return f"expected a string, got {got}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected an integer, got {got}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got}"
    if kind in ("enum", "literal_error"):
        expected = err.get("ctx", {}).get("expected", "")
        choices = [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",") if c.strip()]
        hint = did_you_mean(str(value), choices) if isinstance(value, str) else ""
        return f"must be one of {expected}, got {value!r}{hint}"
    if kind in ("string_pattern_mismatch", "string_too_short", "string_too_long") and loc == ("name",) \
            and model.__name__ == "PipelineConfig":
        return (
            f"invalid name {value!r}: use 2-255 lowercase letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    if kind == "string_too_short" and value == "":
        return "must not be empty"
    if kind == "too_short" and isinstance(value, list) and not value:
        return "must not be empty"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    msg = str(err["msg"])
    msg = msg.replace("Input should be", "must be").replace("String should", "must")
    return msg[:1].lower() + msg[1:]


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) < 40 else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys a mapping at ``loc`` (inside ``model``) accepts, as they are spelled in files."""
    current: Any = model
    for part in loc:
        current = _strip(current)
        origin = typing.get_origin(current)
        if origin in (list, tuple):
            current = typing.get_args(current)[0]
        elif origin is dict:
            current = typing.get_args(current)[1]
        elif isinstance(current, type) and issubclass(current, BaseModel):
            current = _field_by_key(current, str(part))
            if current is None:
                return []
        else:
            return []
    current = _strip(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return _keys(current)
    return []


def accepts_key(model: type[BaseModel], key: Any) -> bool:
    """Whether ``model`` has a field spelled ``key`` (in any of the spellings it accepts)."""
    return isinstance(key, str) and _field_by_key(model, key) is not None


def _keys(model: type[BaseModel]) -> list[str]:
    keys = []
    for name, info in model.model_fields.items():
        keys.append(info.serialization_alias or info.alias or name)
    return keys


def _field_by_key(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        names = {name, info.alias, info.serialization_alias}
        choices = getattr(info.validation_alias, "choices", None)
        if choices:
            names.update(c for c in choices if isinstance(c, str))
        if key in names:
            return info.annotation
    return None


def _strip(tp: Any) -> Any:
    """Strip Optional and Annotated wrappers."""
    for _ in range(8):
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp
    return tp
