"""Executables as evaluators: JSON on stdin, JSON on stdout, in any language.

The child runs in its own session (process group), with the project folder as its working
directory and a small environment (an allow-list, so secrets do not leak to every script). On
timeout the **whole group** is killed, so a ``sleep`` started by a bash evaluator (or a child that
ignores SIGTERM) cannot keep the call alive — the reference waited for such grandchildren.

Mapping (status, category): exit 0 with a valid object → as printed; exit 0 with anything else →
ERROR/PERMANENT ``EVALUATOR_OUTPUT_INVALID``; timeout → ERROR/TIMEOUT ``EVALUATOR_TIMEOUT``; exit 2
→ ERROR/PERMANENT; exit ≥ 128 or killed by a signal → ERROR/EVALUATOR_CRASH; other non-zero exits →
ERROR/TRANSIENT; cannot start → ERROR/PERMANENT; stdout over 1 MiB → ERROR/PERMANENT.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from interlock.evaluators.base import (
    ERROR_PREFIX,
    MAX_OUTPUT_BYTES,
    MAX_QUOTED_CHARS,
    EvaluationRequest,
    EvaluatorOutput,
    parse_output,
)
from interlock.model import FailureCategory
from interlock.redaction import excerpt

# Variables every evaluator gets from the environment (when set); add more with engine.evaluatorEnv.
BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")
# Stderr kept for reasons.
MAX_STDERR_BYTES = 65_536
# After SIGKILL, how long to wait for the group to be reaped before giving up on it (s).
REAP_WAIT = 2.0


class SubprocessEvaluator:
    """Runs one executable per evaluation."""

    def __init__(self, path: str, cwd: Path, extra_env: Sequence[str] = (),
                 environ: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.cwd = cwd
        source = os.environ if environ is None else environ
        self.env = {k: source[k] for k in (*BASE_ENV, *extra_env) if k in source}
        self.env["INTERLOCK_PROJECT_DIR"] = str(cwd)

    def evaluate(self, request: EvaluationRequest, timeout: float) -> EvaluatorOutput:
        payload = json.dumps(request.to_json()).encode()
        try:
            proc = subprocess.Popen(
                [self.path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=self.cwd, env=self.env, start_new_session=True,
            )
        except OSError as exc:
            return EvaluatorOutput.error(f"{ERROR_PREFIX}: cannot start {self.path}: {exc.strerror or exc}",
                                         FailureCategory.PERMANENT)
        stdout, stderr, outcome = _communicate(proc, payload, timeout)
        if outcome == "timeout":
            return EvaluatorOutput.timed_out()
        if outcome == "too-large":
            return EvaluatorOutput.too_large("output")
        code = proc.returncode
        if code == 0:
            return parse_output(stdout)
        detail = f" (stderr: {excerpt(stderr, MAX_QUOTED_CHARS)})"
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            return EvaluatorOutput.error(f"{ERROR_PREFIX}: killed by signal {name}{detail}",
                                         FailureCategory.EVALUATOR_CRASH)
        category = (FailureCategory.PERMANENT if code == 2 else
                    FailureCategory.EVALUATOR_CRASH if code >= 128 else FailureCategory.TRANSIENT)
        return EvaluatorOutput.error(f"{ERROR_PREFIX}: exit status {code}{detail}", category)


def _communicate(proc: subprocess.Popen[bytes], payload: bytes, timeout: float) -> tuple[bytes, bytes, str]:
    """Feed stdin, collect capped stdout/stderr until exit or deadline; kill the group on timeout."""
    assert proc.stdin and proc.stdout and proc.stderr
    deadline = time.monotonic() + timeout
    out, err = bytearray(), bytearray()
    sel = selectors.DefaultSelector()
    try:
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the evaluator did not read its input; its exit code and output still count
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _kill_group(proc)
                return bytes(out), bytes(err), "timeout"
            for key, _ in sel.select(remaining):
                chunk = os.read(key.fd, 65_536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buffer: bytearray = key.data
                buffer.extend(chunk)
                if buffer is out and len(out) > MAX_OUTPUT_BYTES:
                    _kill_group(proc)
                    return bytes(out), bytes(err), "too-large"
                if buffer is err and len(err) > MAX_STDERR_BYTES:
                    del err[MAX_STDERR_BYTES:]
        # Output closed; the process may still be running (a daemonised grandchild kept nothing open).
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return bytes(out), bytes(err), "timeout"
        return bytes(out), bytes(err), "exited"
    finally:
        sel.close()
        for pipe in (proc.stdout, proc.stderr):
            pipe.close()
        # Anything the evaluator left running in its group goes with it.
        _kill_group(proc, only_leftovers=True)


def _kill_group(proc: subprocess.Popen[bytes], only_leftovers: bool = False) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        if only_leftovers:
            return
    if proc.returncode is None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(REAP_WAIT)
