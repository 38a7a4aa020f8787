"""Loading and validating an Interlock project's configuration."""

from interlock.config.errors import ConfigError, ConfigInvalid
from interlock.config.index import open_project
from interlock.config.loader import Project, check_pipeline, find_config, load_project
from interlock.config.merge import resolve_traits
from interlock.config.project import ProjectConfig, Settings

__all__ = [
    "ConfigError",
    "ConfigInvalid",
    "Project",
    "ProjectConfig",
    "Settings",
    "check_pipeline",
    "find_config",
    "load_project",
    "open_project",
    "resolve_traits",
]
