"""Checked by mypy (``make lint``), never run: every structure implements the contract."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiopyrq.sync
from aiopyrq import Pool, Queue, ShardedQueue, UniqueQueue

if TYPE_CHECKING:
    import redis
    from redis.asyncio import Redis

    from aiopyrq._types import Consumable
    from aiopyrq.sync._types import Consumable as SyncConsumable


def structures(client: Redis) -> list[Consumable]:
    """One of each structure, each typed as the contract the runtime, CLI and metrics use."""
    queue: Consumable = Queue("q", client)
    unique: Consumable = UniqueQueue("u", client)
    sharded: Consumable = ShardedQueue("s", client, shards=2)
    pool: Consumable = Pool("p", client)
    as_queue: Queue = UniqueQueue("u", client)  # substitutable, delete_items(items, count) too
    return [queue, unique, sharded, pool, as_queue]


def sync_structures(client: redis.Redis) -> list[SyncConsumable]:
    """The sync twin's structures keep the sync twin's contract, which its Consumer uses."""
    queue: SyncConsumable = aiopyrq.sync.Queue("q", client)
    unique: SyncConsumable = aiopyrq.sync.UniqueQueue("u", client)
    sharded: SyncConsumable = aiopyrq.sync.ShardedQueue("s", client, shards=2)
    pool: SyncConsumable = aiopyrq.sync.Pool("p", client)
    aiopyrq.sync.Consumer(queue, print)
    return [queue, unique, sharded, pool]
