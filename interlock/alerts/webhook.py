"""The webhook sink: POST each alert as JSON (or as a Slack message with ``format: slack``).

Bounded: 10 s per attempt, two attempts for a 5xx or a network error, never redirected; the URL
passes the SSRF guard. A failure raises, and the dispatcher logs it and carries on. The URL is
redacted from errors and logs (:mod:`interlock.redaction`): a Slack hook URL is a credential.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from interlock import netguard
from interlock.model import Alert, AlertLevel
from interlock.netguard import OutboundPolicy, check_url
from interlock.redaction import excerpt, install_log_filter, redact, remember_url

TIMEOUT = 10.0
ATTEMPTS = 2
RETRY_PAUSE = 0.5
_ICONS = {AlertLevel.ERROR: ":red_circle:", AlertLevel.WARNING: ":warning:", AlertLevel.INFO: ":information_source:"}


def slack_text(alert: Alert) -> str:
    """An alert as one line of Slack markup: level icon, pipeline, category, message."""
    where = f" *{alert.pipeline_id}*" if alert.pipeline_id else ""
    category = f" `{alert.alert_type}`" if alert.alert_type else ""
    return f"{_ICONS.get(alert.level, '')}{where}{category} {alert.message}".strip()


class WebhookSink:
    name = "webhook"

    def __init__(self, url: str, slack: bool = False, *, outbound: OutboundPolicy | None = None) -> None:
        check_url(url, using=outbound)  # refuse link-local / metadata targets when the sink is built
        remember_url(url)  # a hook URL is a credential: kept out of errors and the HTTP client's logs
        install_log_filter()
        self.url = url
        self.outbound = outbound
        # What errors name: the host only (the URL, or a user:password@ in it, may be a credential).
        self.host = urlsplit(url).hostname or "the webhook"
        self.slack = slack

    def payload(self, alert: Alert) -> dict[str, Any]:
        return {"text": slack_text(alert)} if self.slack else alert.to_json()

    def send(self, alert: Alert) -> None:
        body = self.payload(alert)
        last: Exception | None = None
        for attempt in range(ATTEMPTS):
            try:
                response = netguard.request("POST", self.url, using=self.outbound, json=body, timeout=TIMEOUT)
            except httpx.HTTPError as exc:
                last = RuntimeError(redact(f"webhook POST to {self.host} failed: {exc}"))
            else:
                if response.status_code < 400:
                    return
                last = RuntimeError(f"webhook returned status {response.status_code}: {excerpt(response.text, 500)}")
                if response.status_code < 500:
                    break  # a 4xx will not get better
            if attempt + 1 < ATTEMPTS:
                time.sleep(RETRY_PAUSE)
        assert last is not None
        raise last
