"""Strict JSON for input from outside: what is accepted can be stored and served back unchanged.

Python's :func:`json.loads` accepts more than JSON: ``NaN``/``Infinity``, numbers such as ``1e999``
that become infinite, duplicate keys (the last one silently wins) and strings holding lone
surrogates (``"\\ud800"``) or NUL (``"\\u0000"``). Stored, such input made a record unreadable
(a surrogate cannot be encoded as UTF-8), changed it (NaN is written back as null), turned a
response into a 500, or would stop the Postgres archive (it refuses NUL in text and JSONB).
Evaluator output and API request bodies are read with :func:`loads`, which refuses all of them.
"""

from __future__ import annotations

import json
import math
from typing import Any


class NotStrictJson(ValueError):
    """Input that is not JSON, or JSON that cannot be stored and served back as it is."""


def loads(raw: str | bytes) -> Any:
    """Parse ``raw``; raise NotStrictJson (a ValueError) saying what is wrong."""
    try:
        doc = json.loads(raw, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except NotStrictJson:
        raise
    except RecursionError:
        raise NotStrictJson("not JSON: nested too deeply") from None
    except ValueError as exc:
        raise NotStrictJson(f"not JSON: {exc}") from None
    problem = unstorable(doc)
    if problem:
        raise NotStrictJson(problem)
    return doc


def unstorable(doc: Any) -> str | None:
    """Why parsed ``doc`` cannot be stored and served back as JSON text, or None."""
    pending = [doc]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            return f"the number {item} is out of range"
        elif isinstance(item, str):
            if "\0" in item:
                return "a NUL character (\\u0000) in a string"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "a string that is not valid Unicode (a lone surrogate)"
    return None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            shown = key.encode("utf-8", "replace").decode("utf-8").replace("\0", "\ufffd")[:60]
            raise NotStrictJson(f"duplicate key {shown!r}")
        doc[key] = value
    return doc


def _no_constant(name: str) -> Any:
    raise NotStrictJson(f"{name} is not a JSON value")
