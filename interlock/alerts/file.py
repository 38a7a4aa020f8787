"""The file sink: one JSON object per line, appended."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from interlock.model import Alert


class FileSink:
    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def send(self, alert: Alert) -> None:
        line = json.dumps(alert.to_json(), separators=(",", ":")) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)
