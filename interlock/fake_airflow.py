"""A tiny stand-in for Airflow's REST API v1 (used by `interlock demo`): DAG runs succeed after a few polls."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeAirflow:
    def __init__(self, polls_until_success: int = 2) -> None:
        self.runs: dict[str, int] = {}
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                run_id = str(body.get("dag_run_id", ""))
                with fake.lock:
                    if run_id in fake.runs:
                        return self._reply(409, {"detail": "DAGRun already exists"})
                    fake.runs[run_id] = 0
                self._reply(200, {"dag_run_id": run_id, "state": "queued"})

            def do_GET(self) -> None:
                run_id = self.path.rsplit("/", 1)[-1]
                with fake.lock:
                    if run_id not in fake.runs:
                        return self._reply(404, {"detail": "not found"})
                    fake.runs[run_id] += 1
                    state = "success" if fake.runs[run_id] >= polls_until_success else "running"
                self._reply(200, {"dag_run_id": run_id, "state": state})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeAirflow:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
