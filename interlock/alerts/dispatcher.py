"""The alert dispatcher: each alert once (per dedup key), persisted, then sent to every sink.

A sink failure is logged and never stops the others or the step that raised the alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from interlock import metrics
from interlock.alerts.base import Sink
from interlock.alerts.console import ConsoleSink
from interlock.alerts.file import FileSink
from interlock.model import Alert, AlertConfig, AlertType
from interlock.netguard import OutboundPolicy
from interlock.store.base import Store

log = logging.getLogger(__name__)

# How long a dedup key suppresses the same alert: longer than any period it is keyed on.
DEDUP_TTL = timedelta(days=2)


class AlertDispatcher:
    def __init__(self, store: Store, sinks: Sequence[Sink],
                 shadow: Callable[[str | None], bool] | None = None) -> None:
        self.store = store
        self.sinks = list(sinks)
        # Which pipelines are in shadow mode (``dryRun``): their alerts are stored, marked
        # ``details.shadow``, and reach no sink. Deps sets it (steps/shadow.py); None: no pipeline is.
        self.shadow = shadow
        self.sent = 0
        self.failed = 0

    def fire(self, alert: Alert, dedup_key: str | None = None) -> bool:
        """Persist and send ``alert`` unless ``dedup_key`` was already used; True when sent."""
        shadow = self.shadow is not None and self.shadow(alert.pipeline_id)
        # A shadow alert dedups apart from live ones: a pipeline switched live mid-period still alerts.
        once = f"alert:shadow:{dedup_key}" if shadow else f"alert:{dedup_key}"
        if dedup_key is not None and not self.store.mark_once(once, DEDUP_TTL.total_seconds()):
            return False
        if shadow:
            self.store.put_alert(alert.model_copy(update={"details": {**(alert.details or {}), "shadow": True}}))
            return True
        stored = self.store.put_alert(alert)
        for sink in self.sinks:
            try:
                sink.send(stored)
                self.sent += 1
                metrics.count(self.store, "interlock_alerts_total", sink=sink.name)
            except Exception:
                self.failed += 1
                metrics.count(self.store, "interlock_alerts_failed_total", sink=sink.name)
                log.exception("alert sink %s failed for alert %s", sink.name, stored.alert_id)
        return True


def build_sinks(configs: Sequence[AlertConfig], root: Path, console: TextIO | None = None, *,
                outbound: OutboundPolicy | None = None, store: Store | None = None,
                thread_ttl: timedelta = timedelta(days=7)) -> list[Sink]:
    """Sinks for ``interlock.yaml`` ``alerts:`` (validated at load: required fields are there).

    ``console`` redirects the console sink (the CLI sends it to stderr, away from its own output);
    ``outbound`` is the project's policy webhook and Slack URLs are judged by (None: the defaults).
    ``store`` keeps a slack sink's thread per period, for ``thread_ttl`` (without a store every
    Slack message is posted on its own).
    """
    from interlock.alerts.aws import S3Sink, SnsSink
    from interlock.alerts.slack import DEFAULT_API_URL, SlackSink
    from interlock.alerts.webhook import WebhookSink

    sinks: list[Sink] = []
    for config in configs:
        if config.type is AlertType.CONSOLE:
            sinks.append(ConsoleSink(console))
        elif config.type is AlertType.FILE and config.path:
            sinks.append(FileSink(root / config.path))
        elif config.type is AlertType.WEBHOOK and config.url:
            sinks.append(WebhookSink(config.url, slack=config.format == "slack", outbound=outbound))
        elif config.type is AlertType.SNS and config.topic_arn:
            sinks.append(SnsSink(config.topic_arn))
        elif config.type is AlertType.S3 and config.bucket_name:
            sinks.append(S3Sink(config.bucket_name, config.prefix))
        elif config.type is AlertType.SLACK and config.token and config.channel:
            sinks.append(SlackSink(config.token, config.channel, store=store, api_url=config.api_url or DEFAULT_API_URL,
                                   thread_ttl=thread_ttl, outbound=outbound))
    return sinks
