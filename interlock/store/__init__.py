"""State stores: the :class:`Store` contract and its backends."""

from interlock.store.base import (
    BreakerOp,
    BreakerPolicy,
    Change,
    ChangeKind,
    DueItem,
    Epoch,
    EventRecord,
    Lock,
    SensorReading,
    Store,
    TraitSource,
)

__all__ = [
    "BreakerOp",
    "BreakerPolicy",
    "Change",
    "ChangeKind",
    "DueItem",
    "Epoch",
    "EventRecord",
    "Lock",
    "SensorReading",
    "Store",
    "TraitSource",
]
