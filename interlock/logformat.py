"""``--log-format json``: one JSON object per log line, with the ids of the work in hand.

Every line carries ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, and, where
known, ``pipeline``, ``schedule``, ``period``, ``run_id`` (bound by the step runner, see
:mod:`interlock.correlation`) and ``trace_id`` (tracing on); ``exception`` holds a traceback.
Workers and Beat apply it to Celery's own handlers (:func:`use`); the API server logs through the
root logger (:func:`configure_root`).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from interlock import correlation

FORMATS = ("text", "json")
# The format this process was asked for (``--log-format`` / ``INTERLOCK_LOG_FORMAT``).
_format = "text"


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON, with the correlation ids known where it was logged."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            **correlation.ids(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def use(log_format: str) -> None:
    """Ask for ``log_format`` (``text`` or ``json``) in this process; Celery's logging set-up applies it.

    Raises ValueError for another format.
    """
    global _format
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {log_format!r}")
    _format = log_format


def wanted() -> str:
    return _format


def apply(logger: logging.Logger) -> None:
    """Give ``logger``'s handlers the JSON formatter when JSON was asked for."""
    if _format == "json":
        for handler in logger.handlers:
            handler.setFormatter(JsonFormatter())


def configure_root(level: int = logging.INFO) -> None:
    """Log everything (uvicorn's loggers too) through one root handler in the asked-for format."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if _format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
