"""HTTP endpoints as evaluators: POST the request JSON, read the output JSON.

Up to 3 attempts within the trait's timeout; 429/502/503/504 are retried after 0.5 s, then 1 s.
Any network failure or error status is an ERROR result (TRANSIENT for 429, 5xx and network
errors; PERMANENT for other 4xx), never an exception. The URL passes the SSRF guard first.
"""

from __future__ import annotations

import time

import httpx

from interlock import netguard
from interlock.evaluators.base import (
    HTTP_ERROR_PREFIX,
    MAX_OUTPUT_BYTES,
    MAX_QUOTED_CHARS,
    EvaluationRequest,
    EvaluatorOutput,
    parse_output,
)
from interlock.model import FailureCategory
from interlock.netguard import BlockedURL, OutboundPolicy, check_url
from interlock.redaction import excerpt

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_ATTEMPTS = 3
# First retry delay (s); doubles for each further attempt.
BACKOFF_BASE = 0.5


class HttpEvaluator:
    def __init__(self, url: str, *, allow_link_local: bool | None = None, policy: OutboundPolicy | None = None,
                 client: httpx.Client | None = None) -> None:
        self.url = url
        self.allow_link_local = allow_link_local
        self.policy = policy  # the project's outbound policy (None: the defaults)
        self.client = client

    def evaluate(self, request: EvaluationRequest, timeout: float) -> EvaluatorOutput:
        try:
            check_url(self.url, allow_link_local=self.allow_link_local, using=self.policy)
        except BlockedURL as exc:
            return EvaluatorOutput.error(f"{HTTP_ERROR_PREFIX}: {exc}", FailureCategory.PERMANENT)
        deadline = time.monotonic() + timeout
        client = self.client or netguard.client(netguard.policy_of(self.policy, self.allow_link_local))
        try:
            return self._attempts(client, request, deadline)
        finally:
            if self.client is None:
                client.close()

    def _attempts(self, client: httpx.Client, request: EvaluationRequest, deadline: float) -> EvaluatorOutput:
        last: EvaluatorOutput | None = None
        for attempt in range(MAX_ATTEMPTS):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return EvaluatorOutput.timed_out()
            try:
                with client.stream("POST", self.url, json=request.to_json(), timeout=remaining) as response:
                    body = _read_capped(response, deadline)
            except httpx.TimeoutException:
                return EvaluatorOutput.timed_out()
            except _TooLarge:
                return EvaluatorOutput.too_large("response")
            except httpx.HTTPError as exc:
                last = EvaluatorOutput.error(f"{HTTP_ERROR_PREFIX}: request failed: {exc}", FailureCategory.TRANSIENT)
                break
            code = response.status_code
            if code < 400:
                return parse_output(body, "body")
            category = FailureCategory.TRANSIENT if code == 429 or code >= 500 else FailureCategory.PERMANENT
            quoted = excerpt(body, MAX_QUOTED_CHARS)
            last = EvaluatorOutput.error(f"{HTTP_ERROR_PREFIX}: status {code}: {quoted}", category)
            if code not in RETRY_STATUSES or attempt == MAX_ATTEMPTS - 1:
                break
            pause = BACKOFF_BASE * 2**attempt
            if time.monotonic() + pause >= deadline:
                return EvaluatorOutput.timed_out()
            time.sleep(pause)
        assert last is not None
        return last


class _TooLarge(Exception):
    pass


def _read_capped(response: httpx.Response, deadline: float) -> bytes:
    """The body, at most MAX_OUTPUT_BYTES, by ``deadline``: a server trickling bytes cannot hold us."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body.extend(chunk)
        if len(body) > MAX_OUTPUT_BYTES:
            raise _TooLarge
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the response did not arrive within the timeout")
    return bytes(body)
