"""How every store backend writes a record and reads it back (canonical camelCase JSON)."""

from __future__ import annotations

import json
import logging
from typing import TypeVar

from pydantic import BaseModel, ValidationError

log = logging.getLogger("interlock.store")

M = TypeVar("M", bound=BaseModel)


def dump(model: BaseModel) -> str:
    """The record's stored form: JSON by alias, empty fields left out, no spaces."""
    return json.dumps(model.model_dump(mode="json", by_alias=True, exclude_none=True), separators=(",", ":"))


def decode(name: str, raw: str | None, model: type[M]) -> M | None:
    """Decode a stored value; a corrupt one is logged with ``name`` (its key or item) and skipped."""
    if raw is None:
        return None
    try:
        return model.model_validate_json(raw)
    except (ValidationError, ValueError) as exc:
        first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        log.warning("store: skipping corrupt value at %s: %s", name, first)
        return None
