"""The ``interlock`` command line."""

from interlock.cli import archive, pipelines, project, runs, runtime  # registers the commands on the group
from interlock.cli.main import cli, main

__all__ = ["archive", "cli", "main", "pipelines", "project", "runs", "runtime"]
