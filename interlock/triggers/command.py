"""The ``command`` trigger: run a program and wait for it; exit 0 means the job is done.

The command line is split into arguments (shlex) and run without a shell, unless the pipeline
says ``shell: true``. It runs in the project folder with ``INTERLOCK_RUN_ID``,
``INTERLOCK_PIPELINE``, ``INTERLOCK_SCHEDULE`` and ``INTERLOCK_PERIOD`` set, in a process group of
its own that is killed on timeout.

Templating (``${date}``, ``${runId}``, ``${INTERLOCK_*}`` ..., interlock.triggers.template) is the
same as for every trigger, applied so that a value can never become shell syntax:

- without a shell, the line is split first and each argument rendered on its own: a value with
  spaces, quotes or ``;`` stays one argument, never re-split;
- with ``shell: true`` the script is left as written and the values are given to the shell as
  environment variables of the same names (``date=2026-03-01``), so the shell's own expansion of
  ``${date}`` puts them in. An expanded parameter is never parsed again as shell code, whereas a value
  pasted into the script would be, and no quoting is safe in every place a user may write
  ``${date}``: ``shlex.quote`` protects an unquoted word, but inside double quotes its single quotes
  are literal and a ``"`` in the value closes the string. As with any shell variable, write
  ``"${date}"`` to keep a value with spaces one word.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from typing import Any

from interlock.model import COMMAND_TRIGGER_ENV, FailureCategory, TriggerConfig
from interlock.redaction import excerpt
from interlock.triggers.base import JobState, Started, Status, TriggerContext, TriggerError
from interlock.triggers.template import render, values

# Characters of the command's output quoted in a failure message.
OUTPUT_TAIL = 2000


class CommandTrigger:
    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started:
        block = config.command
        if block is None:
            raise TriggerError("command trigger config is missing", FailureCategory.PERMANENT)
        facts = (ctx.run_id, ctx.pipeline, ctx.schedule, ctx.period)
        env = {**os.environ, **dict(zip(COMMAND_TRIGGER_ENV, facts, strict=True))}
        if block.shell:
            argv = ["/bin/sh", "-c", block.command]
            env.update(values(block.command, ctx))
        else:
            try:
                words = shlex.split(block.command)
            except ValueError as exc:
                raise TriggerError(f"cannot parse command: {exc}", FailureCategory.PERMANENT) from None
            argv = [render(word, ctx) for word in words]
        try:
            proc = subprocess.Popen(argv, cwd=ctx.project_root, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            raise TriggerError(f"cannot start {argv[0]}: {exc.strerror or exc}", FailureCategory.PERMANENT) from None
        try:
            output, _ = proc.communicate(timeout=block.timeout or None)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise TriggerError(f"command timed out after {block.timeout}s", FailureCategory.TIMEOUT) from None
        tail = excerpt(output, OUTPUT_TAIL, keep="tail")
        if proc.returncode != 0:
            raise TriggerError(f"command exited with status {proc.returncode}" + (f": {tail}" if tail else ""),
                               FailureCategory.TRANSIENT)
        return Started(done=True, metadata={"exitCode": 0})

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        return Status(JobState.SUCCEEDED, "command finished when it was started")
