"""Checked by mypy (``make lint``), never run: every structure implements the contract."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiopyrq import Pool, Queue, ShardedQueue, UniqueQueue

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from aiopyrq._types import Consumable


def structures(client: Redis) -> list[Consumable]:
    """One of each structure, each typed as the contract the runtime, CLI and metrics use."""
    queue: Consumable = Queue("q", client)
    unique: Consumable = UniqueQueue("u", client)
    sharded: Consumable = ShardedQueue("s", client, shards=2)
    pool: Consumable = Pool("p", client)
    as_queue: Queue = UniqueQueue("u", client)  # substitutable, delete_items(items, count) too
    return [queue, unique, sharded, pool, as_queue]
