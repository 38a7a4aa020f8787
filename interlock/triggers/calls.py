"""One HTTP call of a trigger, its failures turned into :class:`TriggerError` the same way everywhere.

A network failure is TRANSIENT (with ``timeouts``, a timeout is TIMEOUT); an answer of 400 or more
that the caller does not ``accept`` takes :func:`category_for_status`. Every message begins with
``what`` (``"airflow trigger"``, ``"databricks status"``) and quotes ``quoted`` characters of the
answer (none when 0).
"""

from __future__ import annotations

from collections.abc import Callable, Container

import httpx

from interlock.model import FailureCategory
from interlock.redaction import excerpt
from interlock.triggers.base import TriggerError, category_for_status


def call(what: str, send: Callable[[], httpx.Response], *, quoted: int = 0, timeouts: bool = False,
         accept: Container[int] = ()) -> httpx.Response:
    """The answer of ``send()``; raises TriggerError for a network failure or an error status."""
    try:
        response = send()
    except httpx.HTTPError as exc:
        if timeouts and isinstance(exc, httpx.TimeoutException):
            raise TriggerError(f"{what}: request timed out", FailureCategory.TIMEOUT) from None
        raise TriggerError(f"{what}: request failed: {exc}", FailureCategory.TRANSIENT) from None
    if response.status_code >= 400 and response.status_code not in accept:
        answer = f": {excerpt(response.text, quoted)}" if quoted else ""
        raise TriggerError(f"{what}: returned status {response.status_code}{answer}",
                           category_for_status(response.status_code))
    return response
