"""The ``interlock`` command line."""

from interlock.cli import archive, check, deadletters, demo, pipelines, project, runs, runtime  # registers the commands
from interlock.cli.main import cli, main

__all__ = ["archive", "check", "cli", "deadletters", "demo", "main", "pipelines", "project", "runs", "runtime"]
