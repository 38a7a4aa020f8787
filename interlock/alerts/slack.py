"""The Slack sink: the Bot API's ``chat.postMessage``, one thread per (pipeline, schedule, period).

The first alert of a period posts a message to the channel; every later alert of the same
(pipeline, schedule, period) replies to it (``thread_ts``), so a period's alerts read as one
conversation. The thread's ``ts`` is kept in the store (``put_value``, for the retention TTL), so
every worker replies to the same thread; a short store lock makes one of two workers racing on a
period's first alert post it while the other waits for its ``ts``. An alert without a period (a
store reset, a drift of a rerun) is posted on its own.

The token comes from the environment (``token: ${INTERLOCK_SLACK_TOKEN}`` in ``interlock.yaml``),
read when an alert is sent and redacted from every error and log line. The API URL passes the
project's outbound (SSRF) policy like a webhook's. Bounded: 10 s per request; a 429 is retried
once after its ``Retry-After`` when that is at most 10 s; a reply of ``"ok": false`` raises
naming Slack's ``error`` code.
"""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from interlock import netguard
from interlock.alerts.webhook import slack_text
from interlock.model import Alert
from interlock.netguard import OutboundPolicy, check_url
from interlock.redaction import excerpt, install_log_filter, redact, remember
from interlock.store.base import Store

DEFAULT_API_URL = "https://slack.com/api"
TIMEOUT = 10.0
# A 429's Retry-After up to this many seconds is waited out once; a longer one fails the send.
RETRY_AFTER_MAX = 10.0
# How long a worker waits for another one to post a period's first message (then posts its own).
THREAD_WAIT = 15.0
THREAD_POLL = 0.2
# The whole value of ``token``: one ${INTERLOCK_*} variable (a literal token in YAML is refused).
TOKEN_REFERENCE = re.compile(r"^\$\{(INTERLOCK_[A-Z0-9_]+)\}$")


class SlackError(RuntimeError):
    """Slack refused or could not take the message; the dispatcher logs and counts it."""


class SlackSink:
    name = "slack"

    def __init__(self, token: str, channel: str, *, store: Store | None, api_url: str = DEFAULT_API_URL,
                 thread_ttl: timedelta = timedelta(days=7), outbound: OutboundPolicy | None = None) -> None:
        match = TOKEN_REFERENCE.match(token)
        if not match:
            raise ValueError("slack token must be a ${INTERLOCK_*} variable, not the token itself")
        self.variable = match.group(1)
        self.url = api_url.rstrip("/") + "/chat.postMessage"
        check_url(self.url, using=outbound)
        self.outbound = outbound
        install_log_filter()
        self.host = urlsplit(self.url).hostname or "slack"
        self.channel = channel
        self.store = store
        self.thread_ttl = thread_ttl

    def send(self, alert: Alert) -> None:
        text = slack_text(alert)
        thread = self.thread_key(alert)
        if thread is None or self.store is None:
            self.post(text, None)
            return
        deadline = time.monotonic() + THREAD_WAIT
        while True:
            ts = self.store.get_value(thread)
            if ts is not None:
                self.post(text, ts)
                return
            lock = self.store.acquire_lock(f"{thread}:lock", TIMEOUT * 3)
            if lock is not None:
                try:
                    ts = self.store.get_value(thread)  # posted between the read and the lock
                    if ts is not None:
                        self.post(text, ts)
                    else:
                        self.store.put_value(thread, self.post(text, None), self.thread_ttl.total_seconds())
                finally:
                    self.store.release_lock(lock)
                return
            if time.monotonic() >= deadline:  # the first poster is stuck: better a message than none
                self.post(text, None)
                return
            time.sleep(THREAD_POLL)

    def thread_key(self, alert: Alert) -> str | None:
        """The store key of the alert's (pipeline, schedule, period) thread; None without a period."""
        details = alert.details or {}
        schedule, period = details.get("scheduleId"), details.get("period")
        if not (alert.pipeline_id and isinstance(schedule, str) and isinstance(period, str)):
            return None
        return f"slack-thread:{self.channel}:{alert.pipeline_id}:{schedule}:{period}"

    def token(self) -> str:
        value = os.environ.get(self.variable)
        if not value:
            raise SlackError(f"slack sink: ${{{self.variable}}} is not set in this environment")
        remember(value)  # a bot token is a credential: never in an error or a log line
        return value

    def post(self, text: str, thread_ts: str | None) -> str:
        """Send one message (a reply when ``thread_ts``); return its ``ts``."""
        body: dict[str, Any] = {"channel": self.channel, "text": text}
        if thread_ts is not None:
            body["thread_ts"] = thread_ts
        headers = {"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json; charset=utf-8"}
        for attempt in range(2):
            try:
                response = netguard.request("POST", self.url, using=self.outbound, json=body, headers=headers,
                                            timeout=TIMEOUT)
            except httpx.HTTPError as exc:
                raise SlackError(redact(f"slack chat.postMessage to {self.host} failed: {exc}")) from None
            if response.status_code == 429 and attempt == 0:
                wait = _retry_after(response.headers.get("Retry-After"))
                if wait is not None and wait <= RETRY_AFTER_MAX:
                    time.sleep(wait)
                    continue
            break
        if response.status_code != 200:
            raise SlackError(f"slack chat.postMessage returned status {response.status_code}: "
                             f"{excerpt(response.text, 300)}")
        try:
            answer = response.json()
        except ValueError:
            raise SlackError(f"slack chat.postMessage answered with no JSON: {excerpt(response.text, 300)}") from None
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            error = answer.get("error") if isinstance(answer, dict) else None
            raise SlackError(f"slack chat.postMessage refused the message: {excerpt(str(error or answer), 200)}")
        ts = answer.get("ts")
        if not isinstance(ts, str) or not ts:
            raise SlackError("slack chat.postMessage answered ok without a message ts")
        return ts


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None
