"""Alerts: the dispatcher (dedup, persistence) and its sinks."""

from interlock.alerts.dispatcher import AlertDispatcher, build_sinks

__all__ = ["AlertDispatcher", "build_sinks"]
