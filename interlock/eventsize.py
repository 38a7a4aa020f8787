"""How much one event may carry: a large detail value becomes a preview with its size and digest.

Events copy what decided something: a pushed trait's value, an evaluator's output, a run's
metadata. Copied whole, large values would make a pipeline's event stream (and every page of
``GET .../events``) as large as its pushes. The full value stays where the record itself is kept
(the trait result, the run); the event keeps a preview::

    {"truncated": true, "size": 921600, "sha256": "<hex of the value's compact JSON>", "preview": "{\"rows\": ..."}

:func:`cap_details` is applied by :class:`interlock.model.Event` itself, so every event is capped
whoever writes it, and an event stored before the cap is capped when it is read.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

# A detail value larger than this, in bytes of its compact JSON, is replaced by a preview.
MAX_EVENT_VALUE_BYTES = 4_096
# Characters of a replaced value's JSON kept in its preview.
PREVIEW_CHARS = 512
# Details still larger than this (bytes of compact JSON) once each value is capped (many keys)
# are replaced by one preview of the whole.
MAX_EVENT_DETAILS_BYTES = 16_384


def preview(encoded: bytes) -> dict[str, Any]:
    """The stand-in for a value whose compact JSON is ``encoded``."""
    return {"truncated": True, "size": len(encoded), "sha256": hashlib.sha256(encoded).hexdigest(),
            "preview": encoded.decode("utf-8", errors="replace")[:PREVIEW_CHARS]}


def cap_details(details: dict[str, Any] | None) -> dict[str, Any] | None:
    """``details`` with every value over MAX_EVENT_VALUE_BYTES replaced by its :func:`preview`."""
    if not details:
        return details
    try:
        whole = to_json(details)
        if len(whole) <= MAX_EVENT_VALUE_BYTES:
            return details  # the common case: nothing in it can be too large
        capped = {}
        for key, value in details.items():
            encoded = to_json(value)
            capped[key] = preview(encoded) if len(encoded) > MAX_EVENT_VALUE_BYTES else value
        if len(to_json(capped)) > MAX_EVENT_DETAILS_BYTES:
            return preview(whole)
        return capped
    except (PydanticSerializationError, ValueError):
        return details  # not JSON at all: storing it fails where it always did, with its own error
