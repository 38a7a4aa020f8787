"""A small stand-in for Airflow's REST API v1 and for an HTTP job endpoint, on 127.0.0.1.

`interlock demo` runs its gold pipeline against it; the end-to-end tests use it as their
trigger target. It speaks API v1 and v2 (Airflow 3: ``POST /auth/token`` gives a bearer token that
every ``/api/v2`` call must carry). DAG runs succeed after ``polls_until_success`` status checks;
a second start with the same ``dag_run_id`` is a 409, as in Airflow; any other POST is accepted
(202). Every request is recorded, and so is every DAG run created (``created``) and every start
refused as a duplicate (``refused``).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeAirflow:
    TOKEN = "fake-airflow-token"

    def __init__(self, polls_until_success: int = 2, api_token: str | None = None, open_access: bool = False) -> None:
        """``api_token``: /api/v2 also accepts this static bearer token (a deployment's API token);
        ``open_access``: /api/v2 asks for no credentials at all."""
        self.polls_until_success = polls_until_success
        accepted = {f"Bearer {FakeAirflow.TOKEN}"} | ({f"Bearer {api_token}"} if api_token else set())
        self.runs: dict[str, int] = {}  # dag_run_id -> status checks so far
        self.requests: list[dict[str, Any]] = []
        self.created: list[str] = []  # dag_run_ids, in the order their DAG runs were created
        self.refused: list[str] = []  # dag_run_ids of starts answered 409 (that DAG run existed)
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

            def _authorised(self) -> bool:
                return open_access or not self.path.startswith("/api/v2/") or \
                    self.headers.get("Authorization") in accepted

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"raw": raw.decode(errors="replace")}
                with fake.lock:
                    fake.requests.append({"method": "POST", "path": self.path, "body": body,
                                          "headers": dict(self.headers)})
                    if self.path == "/auth/token":
                        return self._reply(201, {"access_token": FakeAirflow.TOKEN, "token_type": "bearer"})
                    if not self._authorised():
                        return self._reply(401, {"detail": "Not authenticated"})
                    if not self.path.endswith("/dagRuns"):
                        return self._reply(202, {"accepted": True})
                    run_id = str(body.get("dag_run_id", ""))
                    if run_id in fake.runs:
                        fake.refused.append(run_id)
                        return self._reply(409, {"detail": "DAGRun already exists"})
                    fake.runs[run_id] = 0
                    fake.created.append(run_id)
                self._reply(200, {"dag_run_id": run_id, "state": "queued"})

            def do_GET(self) -> None:
                run_id = self.path.rsplit("/", 1)[-1]
                with fake.lock:
                    fake.requests.append({"method": "GET", "path": self.path})
                    if not self._authorised():
                        return self._reply(401, {"detail": "Not authenticated"})
                    if run_id not in fake.runs:
                        return self._reply(404, {"detail": "not found"})
                    fake.runs[run_id] += 1
                    state = "success" if fake.runs[run_id] >= fake.polls_until_success else "running"
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

    def posts(self, path_part: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["method"] == "POST" and path_part in r["path"]]
