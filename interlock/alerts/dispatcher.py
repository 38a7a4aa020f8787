"""The alert dispatcher: each alert once (per dedup key), persisted with its outbox entry, then delivered.

Delivery goes through the outbox (interlock/alerts/outbox.py): with a queue (``defer``: the
Celery workers) the step only asks for ``deliver_alert`` and returns; without one it delivers
right away. A sink failure is recorded and retried, and never stops the others or the step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from interlock.alerts import outbox
from interlock.alerts.base import Sink
from interlock.alerts.console import ConsoleSink
from interlock.alerts.file import FileSink
from interlock.clock import SYSTEM, Clock
from interlock.model import Alert, AlertConfig, AlertType
from interlock.netguard import OutboundPolicy
from interlock.store.base import Store

log = logging.getLogger(__name__)

# How long a dedup key suppresses the same alert: longer than any period it is keyed on.
DEDUP_TTL = timedelta(days=2)


class AlertDispatcher:
    def __init__(self, store: Store, sinks: Sequence[Sink],
                 shadow: Callable[[str | None], bool] | None = None, *, clock: Clock = SYSTEM,
                 ttl: timedelta = timedelta(days=7), defer: Callable[[str], None] | None = None) -> None:
        """``ttl``: how long outbox entries are kept; ``defer(delivery_id)``: asks for the delivery step
        on a queue (None: deliver in this process, before :meth:`fire` returns)."""
        self.store = store
        self.sinks = list(sinks)
        self.clock = clock
        self.ttl = ttl
        self.defer = defer
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
        if not self.sinks:
            self.store.put_alert(alert)
            return True
        if not alert.alert_id:  # the outbox carries the alert as stored
            alert = alert.model_copy(update={"alert_id": str(int(alert.timestamp.timestamp() * 1000))})
        delivery_id, entry = outbox.new_entry(alert, self.clock.now(), self.ttl)
        self.store.put_alert(alert, entry)
        if self.defer is not None:
            try:
                self.defer(delivery_id)
            except Exception:  # the due entry is still there: the reconcile pass asks again
                log.warning("alert %s: could not queue its delivery; the reconcile pass will", alert.alert_id,
                            exc_info=True)
        else:
            self.deliver(delivery_id)
        return True

    def deliver(self, delivery_id: str) -> outbox.Delivered:
        """Send outboxed alert ``delivery_id`` to the sinks it has not reached (the ``deliver_alert`` step)."""
        done = outbox.deliver(self.store, self.sinks, delivery_id, self.clock.now(), self.ttl)
        self.sent += done.sent
        self.failed += done.failed
        return done


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
