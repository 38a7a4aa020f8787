"""Alert sinks: where an alert goes once the dispatcher decided it should go anywhere."""

from __future__ import annotations

from typing import Protocol

from interlock.model import Alert


class Sink(Protocol):
    name: str

    def send(self, alert: Alert) -> None:
        """Deliver ``alert``; raise on failure (the dispatcher logs and counts it)."""
        ...
