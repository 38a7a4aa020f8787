"""State stores: the :class:`Store` contract and its backends."""

from interlock.store.base import (
    Change,
    ChangeKind,
    DueItem,
    EventRecord,
    Lock,
    NotFoundError,
    SensorReading,
    Store,
    TraitSource,
)

__all__ = [
    "Change",
    "ChangeKind",
    "DueItem",
    "EventRecord",
    "Lock",
    "NotFoundError",
    "SensorReading",
    "Store",
    "TraitSource",
]
