"""The console sink: ``[WARN] [orders] message`` on standard output."""

from __future__ import annotations

import sys
from typing import TextIO

from interlock.model import Alert, AlertLevel

_TAGS = {AlertLevel.ERROR: "[ERROR]", AlertLevel.WARNING: "[WARN]", AlertLevel.INFO: "[INFO]"}


class ConsoleSink:
    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, alert: Alert) -> None:
        stream = self.stream or sys.stdout
        where = f" [{alert.pipeline_id}]" if alert.pipeline_id else ""
        stream.write(f"{_TAGS.get(alert.level, '[INFO]')}{where} {alert.message}\n")
        stream.flush()
