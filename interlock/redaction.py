"""Redaction of secrets: ``${INTERLOCK_*}`` values and webhook URLs stay out of what is recorded.

A trigger sends them (a bearer token in a header, a password, a token in a URL), but the error
text of a failed start can carry them back: ``trigger request to https://x/?token=... failed``, a
target that echoes the request in its 400 answer, a command that prints its environment. That text
becomes the run's failure message, events, alerts (and what webhook sinks receive), API answers
and logs. So every value a trigger config references is remembered by this process, and
:func:`redact` replaces it — and its URL- and JSON-escaped spellings — with ``[REDACTED]``.

A webhook sink's URL is a secret too (a Slack hook URL is its own credential): it is remembered
the same way (:func:`remember_url`); the sink's own errors name only its host.

Where it is applied: every trigger returned by :func:`interlock.triggers.trigger_for` redacts the
errors it raises (so everything recorded from them is clean), the webhook sink redacts its own
errors, and the ``httpx``/``httpcore`` loggers, which log request URLs, pass through
:class:`RedactingFilter`. Outside text quoted in a message (a command's output, a target's answer,
an evaluator's stderr) goes through :func:`excerpt`, which redacts *before* it cuts: cut first, a
secret straddling the cut loses the characters that would let the pattern match, and the rest of it
survives.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import quote, quote_plus, urlsplit

REDACTED = "[REDACTED]"
# Values shorter than this are not redacted: replacing every "1" or "yes" in a message would make it
# unreadable and hide nothing (such a value is no secret).
MIN_SECRET_LENGTH = 4
# A URL path shorter than this is not treated as a secret on its own (the whole URL always is).
MIN_URL_PATH_SECRET = 16
# Loggers of the HTTP client, which log each request's URL at INFO/DEBUG.
HTTP_LOGGERS = ("httpx", "httpcore")

_REFERENCE = re.compile(r"\$\{(INTERLOCK_[A-Za-z0-9_]*)\}")
_known: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


def remember(value: str) -> None:
    """Treat ``value`` (and its escaped spellings) as a secret in this process from now on."""
    global _pattern
    if len(value) < MIN_SECRET_LENGTH:
        return
    spellings = {value, quote(value, safe=""), quote(value), quote_plus(value), json.dumps(value)[1:-1]}
    with _lock:
        if spellings <= _known:
            return
        _known.update(spellings)
        # Longest first, so a secret that contains another is replaced whole.
        _pattern = re.compile("|".join(re.escape(s) for s in sorted(_known, key=len, reverse=True)))


def remember_url(url: str) -> None:
    """Treat ``url`` as a secret, and its path and query too when they are long enough to be one.

    A target may echo the path back in an error body (``/services/T0/B0/XXXX`` of a Slack hook);
    a short path such as ``/alerts`` is no credential and would blank out ordinary messages.
    """
    remember(url)
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if len(path) >= MIN_URL_PATH_SECRET:
        remember(path)


def redact(text: str) -> str:
    """``text`` with every remembered secret replaced by ``[REDACTED]``."""
    pattern = _pattern
    return pattern.sub(REDACTED, text) if pattern is not None and text else text


def excerpt(text: str | bytes, limit: int, *, keep: Literal["head", "tail"] = "head") -> str:
    """Outside text fit to quote in a stored message: redacted, *then* cut to ``limit`` characters.

    Decoded leniently, lone surrogates and NUL replaced (neither can be stored: UTF-8, Postgres),
    stripped, every remembered secret replaced by ``[REDACTED]``, then cut: ``keep="head"`` keeps
    the first ``limit`` characters (an HTTP answer), ``"tail"`` the last (a command's output, whose
    end says why it failed). What was cut off is counted in the result.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = redact(text.encode("utf-8", errors="replace").decode("utf-8").replace("\0", "\ufffd").strip())
    if len(text) <= limit:
        return text
    if keep == "tail":
        return f"({len(text) - limit} earlier characters) ...{text[len(text) - limit:]}"
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def referenced_names(values: Iterable[Any]) -> list[str]:
    """The ``${INTERLOCK_*}`` variables named anywhere in ``values`` (nested JSON), in no order."""
    found: list[str] = []
    pending = list(values)
    while pending:
        item = pending.pop()
        if isinstance(item, Mapping):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, str):
            found.extend(_REFERENCE.findall(item))
    return found


def remember_referenced(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> None:
    """Remember the value of every ``${INTERLOCK_*}`` variable a trigger config (as JSON) names."""
    env = os.environ if environ is None else environ
    for name in referenced_names([config]):
        if name in env:
            remember(env[name])


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message (and traceback text) with the secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _pattern is None:
            return True
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_filter() -> None:
    """Put the filter on the HTTP client's loggers (once)."""
    for name in HTTP_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())
