"""The ``interlock`` command line."""

from interlock.cli import (  # registers the commands
    alerts,
    archive,
    check,
    deadletters,
    demo,
    pipelines,
    project,
    runs,
    runtime,
    shadow,
)
from interlock.cli.main import cli, main

__all__ = ["alerts", "archive", "check", "cli", "deadletters", "demo", "main", "pipelines", "project", "runs",
           "runtime", "shadow"]
