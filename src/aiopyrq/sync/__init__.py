"""The synchronous twin: Queue, UniqueQueue, Pool and ShardedQueue for code outside asyncio.

The same methods, options, return values and errors as the asyncio classes of ``aiopyrq``,
as plain methods, on a ``redis.Redis``, ``redis.cluster.RedisCluster``, a Sentinel master
client (``Sentinel.master_for``) or a ``redis.ConnectionPool``, or ``from_url``. They run
the same Lua on the same keys: an item added by one twin is taken, acked, rejected and
recovered by the other. ``Consumer`` runs a plain function over a structure's items in
worker threads.

The structures' modules are generated from the asyncio ones (``make unasync``): each
operation is written once.

Thread safety: a structure object may be used from several threads at once. It is one
consumer (one ``consumer_id``, one processing list) whichever thread calls it, as an
asyncio structure is for its tasks; each call takes a connection of the client's pool for
itself.
"""

from __future__ import annotations

from aiopyrq._dead import DeadLetter
from aiopyrq._durability import Durability
from aiopyrq._history import HistoryMinute
from aiopyrq._stats import ConsumerStats
from aiopyrq.errors import (
    AiopyrqError,
    DurabilityError,
    MissingDependencyError,
    NotEnoughFsyncedError,
    NotEnoughSyncedSlavesError,
    WaitAofError,
)
from aiopyrq.sync._consumer import Consumer
from aiopyrq.sync._pool import Pool
from aiopyrq.sync._queue import Queue
from aiopyrq.sync._sharded import ShardedQueue
from aiopyrq.sync._unique_queue import UniqueQueue

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
