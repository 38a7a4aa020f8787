"""Real HTTP servers on 127.0.0.1 standing in for Airflow and for an HTTP job endpoint."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Recorder:
    """A server whose requests are recorded and whose answers a test can script."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.dag_runs: dict[str, dict[str, Any]] = {}  # dag_run_id -> {"state": ..., "polls": n}
        self.polls_until_success = 2
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with recorder.lock:
                    recorder.requests.append({"method": "POST", "path": self.path, "body": body,
                                              "headers": dict(self.headers)})
                    if self.path.endswith("/dagRuns"):
                        run_id = body["dag_run_id"]
                        if run_id in recorder.dag_runs:
                            return self._reply(409, {"detail": "DAGRun already exists"})
                        recorder.dag_runs[run_id] = {"state": "queued", "polls": 0}
                        return self._reply(200, {"dag_run_id": run_id, "state": "queued"})
                self._reply(202, {"accepted": True})

            def do_GET(self) -> None:
                with recorder.lock:
                    recorder.requests.append({"method": "GET", "path": self.path})
                    run_id = self.path.rsplit("/", 1)[-1]
                    run = recorder.dag_runs.get(run_id)
                    if run is None:
                        return self._reply(404, {"detail": "not found"})
                    run["polls"] += 1
                    if run["polls"] >= recorder.polls_until_success:
                        run["state"] = "success"
                    else:
                        run["state"] = "running"
                    self._reply(200, {"dag_run_id": run_id, "state": run["state"]})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Recorder:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def posts(self, path_part: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["method"] == "POST" and path_part in r["path"]]
