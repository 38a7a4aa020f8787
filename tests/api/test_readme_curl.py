"""Every curl example in the README, run with the real curl against a live `interlock serve`.

Only the host, the port and the API key of an example are replaced; the test adds curl flags that
report the status code, nothing that changes the request.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.api.live import serve
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration

README = Path(__file__).parents[2] / "README.md"
KEY = "readme-example-key"
_ADDRESS = re.compile(r"^(https?://)?(localhost|127\.0\.0\.1):3000(?=/)")


def readme_curl_commands() -> list[str]:
    """The curl commands in the README's code blocks, continuation lines joined."""
    commands: list[str] = []
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", README.read_text(), re.S | re.M):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [line.strip() for line in joined.splitlines() if line.strip().startswith("curl ")]
    return commands


def localized(command: str, port: int) -> list[str]:
    """The command's argv aimed at the test's server and key; fails if an example names neither."""
    argv = shlex.split(command, comments=True)
    urls = [a for a in argv if _ADDRESS.match(a)]
    assert urls, f"README example names no localhost:3000 URL: {command}"
    argv = [_ADDRESS.sub(lambda m: f"{m.group(1) or ''}127.0.0.1:{port}", a) for a in argv]
    return [f"X-API-Key: {KEY}" if a == "X-API-Key: ..." else a for a in argv]


def test_the_readme_has_curl_examples_to_check() -> None:
    assert any("/traits/" in c for c in readme_curl_commands())


def test_every_readme_curl_example_succeeds_as_written(harness: Harness) -> None:
    harness.archetype("marked", ["ready-marker"])
    harness.pipeline("orders", "marked", {}, extra="trigger:\n  type: command\n  command: {command: 'true'}\n")
    with serve(harness, f"server: {{apiKey: {KEY}}}\n") as base:
        port = int(base.rsplit(":", 1)[1])
        for command in readme_curl_commands():
            argv = [*localized(command, port), "--silent", "--show-error", "--write-out", "\n%{http_code}"]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, (command, done.stderr)
            body, _, status = done.stdout.rpartition("\n")
            assert status.startswith("2"), (command, status, body)
            json.loads(body)
        stored = httpx.get(f"{base}/api/pipelines/orders/traits/ready-marker", headers={"X-API-Key": KEY})
    assert stored.status_code == 200
    assert stored.json()["status"] == "PASS" and stored.json()["value"] == {"rows": 42}
