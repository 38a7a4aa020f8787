"""The ``http`` trigger: one request that starts the job; completion comes by callback.

The run id goes in an ``Idempotency-Key`` header, so a retried start can be recognised by the
target. A 4xx answer (but 408/429) is PERMANENT, anything else failing is TRANSIENT.
"""

from __future__ import annotations

from typing import Any

import httpx

from interlock import netguard
from interlock.model import FailureCategory, TriggerConfig
from interlock.netguard import BlockedURL, check_url
from interlock.redaction import excerpt
from interlock.triggers.base import JobState, Started, Status, TriggerContext, TriggerError, category_for_status
from interlock.triggers.template import render, render_map

DEFAULT_TIMEOUT = 30.0
# Characters of a failed start's answer quoted in the failure message.
QUOTED_ANSWER = 2000


class HttpTrigger:
    # The Idempotency-Key header is the run id: an endpoint that honours it never starts a second job.
    idempotent_start = True

    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started:
        block = config.http
        if block is None:
            raise TriggerError("http trigger config is missing", FailureCategory.PERMANENT)
        url = render(block.url, ctx)
        try:
            check_url(url, using=ctx.outbound)
        except BlockedURL as exc:
            raise TriggerError(str(exc), FailureCategory.PERMANENT) from None
        headers = {"Content-Type": "application/json", "Idempotency-Key": ctx.run_id,
                   **render_map(block.headers, ctx)}
        try:
            response = netguard.request(block.method or "POST", url, using=ctx.outbound, headers=headers,
                                        content=render(block.body, ctx).encode() if block.body else None,
                                        timeout=float(block.timeout or DEFAULT_TIMEOUT))
        except httpx.TimeoutException:
            raise TriggerError(f"trigger request to {url} timed out", FailureCategory.TIMEOUT) from None
        except httpx.HTTPError as exc:
            raise TriggerError(f"trigger request to {url} failed: {exc}", FailureCategory.TRANSIENT) from None
        if response.status_code >= 400:
            raise TriggerError(f"trigger returned status {response.status_code}: "
                               f"{excerpt(response.text, QUOTED_ANSWER)}",
                               category_for_status(response.status_code))
        return Started(done=False, metadata={"httpStatus": response.status_code})

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        # An HTTP-started job reports its end through the completion callback.
        return Status(JobState.RUNNING, "waiting for the completion callback")
