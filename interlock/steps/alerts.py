"""The alert delivery step: send one outboxed alert to its sinks (interlock/alerts/outbox.py).

Asked for by :meth:`AlertDispatcher.fire <interlock.alerts.dispatcher.AlertDispatcher.fire>` on
the ``alerts`` queue, and by the reconcile pass for a ``deliver:<id>`` due entry (a retry after
its backoff, or a message that was lost).
"""

from __future__ import annotations

from interlock.steps.deps import Deps


def deliver_alert(deps: Deps, delivery_id: str) -> int:
    """Deliver outboxed alert ``delivery_id``; return how many sinks it reached this time."""
    return deps.alerts.deliver(delivery_id).sent
