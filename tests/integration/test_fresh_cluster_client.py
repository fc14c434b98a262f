"""Structures on a RedisCluster client that has never sent a command, used by many tasks at once.

A fresh cluster client learns the slot map on its first commands; calls that go out at the
same moment meet redirections and a map rebuilt under them, and the client sends some of
them again. Every item is counted: none lost, none stored twice, every item taken held.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from uuid import uuid4

import pytest
from redis.asyncio.cluster import RedisCluster

from aiopyrq import Queue, ShardedQueue
from tests.helpers import waiting_in_shards

pytestmark = [pytest.mark.redis, pytest.mark.slow]

TRIALS = 5
SHARDS = 12
PRODUCERS = 6
PER_PRODUCER = 100


async def held(client: RedisCluster, queue: ShardedQueue) -> Counter[str]:
    """Every item in the queue's processing lists, counted."""
    found: Counter[str] = Counter()
    for shard in queue.shards:
        pattern = shard.keys.processing("*")
        for key in await client.keys(pattern, target_nodes=RedisCluster.PRIMARIES):
            found.update(await client.lrange(key, 0, -1))
    return found


@pytest.mark.parametrize("trial", range(TRIALS))
async def test_fresh_client_adds_and_takes_every_item_once(cluster, trial):
    """Concurrent first calls of sharded queues on a fresh client: every item once."""
    name = f"fresh-{trial}-{uuid4().hex[:8]}"
    items = [f"item-{i}" for i in range(PRODUCERS * PER_PRODUCER)]
    fresh = RedisCluster(startup_nodes=cluster.startup_nodes, decode_responses=True)
    checker = RedisCluster(startup_nodes=cluster.startup_nodes, decode_responses=True)
    try:
        producers = [ShardedQueue(name, fresh, shards=SHARDS) for _ in range(PRODUCERS)]
        batches = [items[i * PER_PRODUCER : (i + 1) * PER_PRODUCER] for i in range(PRODUCERS)]
        await asyncio.gather(*(p.add_items(b) for p, b in zip(producers, batches, strict=True)))
        assert await waiting_in_shards(checker, producers[0]) == Counter(items)

        taker = RedisCluster(startup_nodes=cluster.startup_nodes, decode_responses=True)
        try:
            consumers = [ShardedQueue(name, taker, shards=SHARDS) for _ in range(3)]
            taken = await asyncio.gather(*(c.get_items(60) for c in consumers))
            got = Counter(item for batch in taken for item in batch)
            assert sum(got.values()) == 180
            assert got == await held(checker, consumers[0])
            assert got + await waiting_in_shards(checker, consumers[0]) == Counter(items)
        finally:
            await taker.aclose()
    finally:
        await fresh.aclose()
        await checker.aclose()


async def test_fresh_client_many_queues_at_once(cluster):
    """Queues of many slots, first used at once on a fresh client: every item once."""
    names = [f"{{fresh-many-{uuid4().hex[:8]}}}" for _ in range(16)]
    fresh = RedisCluster(startup_nodes=cluster.startup_nodes, decode_responses=True)
    checker = RedisCluster(startup_nodes=cluster.startup_nodes, decode_responses=True)
    try:
        queues = [Queue(name, fresh) for name in names]
        await asyncio.gather(*(q.add_items([f"{q.name}-{i}" for i in range(50)]) for q in queues))
        for queue in queues:
            assert await checker.lrange(queue.keys.queue, 0, -1) == [
                f"{queue.name}-{i}" for i in reversed(range(50))
            ]
        taken = await asyncio.gather(*(q.get_items(20) for q in queues))
        for queue, items in zip(queues, taken, strict=True):
            assert items == [f"{queue.name}-{i}" for i in range(20)]
            assert await checker.lrange(queue.processing_queue_name, 0, -1) == items[::-1]
    finally:
        await fresh.aclose()
        await checker.aclose()
