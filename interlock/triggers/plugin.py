"""``trigger: {type: plugin, plugin: {name: NAME, config: {...}}}``: a trigger from an installed package.

The package's object (entry point group ``interlock.triggers``, see :mod:`interlock.plugins`)
implements the same :class:`~interlock.triggers.base.Trigger` protocol as the trigger modules beside
this one, and gets the whole :class:`~interlock.model.TriggerConfig` (its own settings are
``config.plugin.config``). It is wrapped like every trigger (errors redacted, an unexpected
exception a TRANSIENT TriggerError), see :func:`interlock.triggers.trigger_for`.
"""

from __future__ import annotations

from typing import Any

from interlock import plugins
from interlock.model import FailureCategory, TriggerConfig
from interlock.triggers.base import Started, Status, Trigger, TriggerContext, TriggerError


class PluginTrigger:
    """Hands start and status to the plugin the config names."""

    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started:
        started = self._plugin(config).start(config, ctx)
        if not isinstance(started, Started):
            raise TriggerError(f"trigger plugin answered {type(started).__name__} to start, not Started",
                               FailureCategory.PERMANENT)
        return started

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        status = self._plugin(config).status(config, metadata)
        if not isinstance(status, Status):
            raise TriggerError(f"trigger plugin answered {type(status).__name__} to status, not Status",
                               FailureCategory.PERMANENT)
        return status

    @staticmethod
    def _plugin(config: TriggerConfig) -> Trigger:
        if config.plugin is None:
            raise TriggerError("trigger.plugin is missing", FailureCategory.PERMANENT)
        try:
            found: Trigger = plugins.load(plugins.TRIGGERS, config.plugin.name)
        except plugins.PluginError as exc:
            raise TriggerError(str(exc), FailureCategory.PERMANENT) from None
        return found
