"""Reliable asyncio queues on Redis: Queue, UniqueQueue and Pool."""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import Any

from aiopyrq._consumer import Consumer
from aiopyrq._dead import DeadLetter
from aiopyrq._durability import Durability
from aiopyrq._history import HistoryMinute
from aiopyrq._pool import Pool
from aiopyrq._queue import Queue
from aiopyrq._sharded import ShardedQueue
from aiopyrq._stats import ConsumerStats
from aiopyrq._unique_queue import UniqueQueue
from aiopyrq.errors import (
    AiopyrqError,
    DurabilityError,
    MissingDependencyError,
    NotEnoughFsyncedError,
    NotEnoughSyncedSlavesError,
    WaitAofError,
)

__all__ = [
    "AiopyrqError",
    "Consumer",
    "ConsumerStats",
    "DeadLetter",
    "Durability",
    "DurabilityError",
    "HistoryMinute",
    "MissingDependencyError",
    "NotEnoughFsyncedError",
    "NotEnoughSyncedSlavesError",
    "Pool",
    "Queue",
    "ShardedQueue",
    "UniqueQueue",
    "WaitAofError",
]


def __getattr__(name: str) -> Any:  # noqa: ANN401 - module attribute
    if name == "__version__":
        return _version("aio-py-rq")
    msg = f"module 'aiopyrq' has no attribute {name!r}"
    raise AttributeError(msg)
