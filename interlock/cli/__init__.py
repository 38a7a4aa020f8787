"""The ``interlock`` command line."""

from interlock.cli import archive, pipelines, project  # registers the commands on the group
from interlock.cli.main import cli, main

__all__ = ["archive", "cli", "main", "pipelines", "project"]
