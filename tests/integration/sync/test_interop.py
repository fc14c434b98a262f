"""The two twins share one queue: what one adds, the other takes, acks, rejects and recovers.

Each test runs on standalone, Cluster and Sentinel, with a sync client (``client``) and an
asyncio one (``async_client``) of the same deployment.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

import aiopyrq
import aiopyrq.sync
from tests.helpers import age_lease, items_named

pytestmark = [pytest.mark.redis, pytest.mark.all_deployments]

KINDS = ["Queue", "UniqueQueue"]


@pytest.fixture(params=KINDS)
def kind(request):
    """The class name of the queue under test, in both twins."""
    return request.param


async def test_sync_producer_async_consumer(kind, client, async_client, name):
    """Items a sync producer adds are taken, acked and rejected by an async consumer."""
    producer = getattr(aiopyrq.sync, kind)(name, client)
    consumer = getattr(aiopyrq, kind)(name, async_client)
    producer.add_items(items_named(100))
    taken = await consumer.get_items(100)
    assert taken == items_named(100)
    await consumer.ack_items(taken[:60])
    assert await consumer.reject_items(taken[60:]) == 0
    assert producer.get_count() == 40
    again = await consumer.get_items(100)
    await consumer.ack_items(again)
    assert Counter(taken[:60] + again) == Counter(items_named(100))
    assert producer.get_count() == 0
    assert await async_client.exists(consumer.processing_queue_name) == 0


async def test_async_producer_sync_consumer(kind, client, async_client, name):
    """Items an async producer adds are taken, acked and rejected by a sync consumer."""
    producer = getattr(aiopyrq, kind)(name, async_client)
    consumer = getattr(aiopyrq.sync, kind)(name, client)
    await producer.add_items(items_named(100))
    taken = consumer.get_items(100)
    assert taken == items_named(100)
    consumer.ack_items(taken[:60])
    assert consumer.reject_items(taken[60:]) == 0
    assert await producer.get_count() == 40
    again = consumer.get_items(100)
    consumer.ack_items(again)
    assert Counter(taken[:60] + again) == Counter(items_named(100))
    assert await producer.get_count() == 0
    assert client.exists(consumer.processing_queue_name) == 0


async def test_async_recovers_a_dead_sync_consumer(kind, client, async_client, name):
    """The items of a sync consumer whose lease is stale go back through an async reaper."""
    dead = getattr(aiopyrq.sync, kind)(name, client)
    reaper = getattr(aiopyrq, kind)(name, async_client)
    dead.add_items(items_named(10))
    assert dead.get_items(10) == items_named(10)
    client.hset(dead.timeouts_hash_name, dead.processing_queue_name, 0)  # a lease of 1970
    assert await reaper.re_enqueue_timeout_items(30) == 10
    assert await reaper.get_items(10) == items_named(10)
    await reaper.ack_items(items_named(10))
    assert dead.get_count() == 0


async def test_sync_recovers_a_dead_async_consumer(kind, client, async_client, name):
    """The items of an async consumer whose lease is stale go back through a sync reaper."""
    dead = getattr(aiopyrq, kind)(name, async_client)
    reaper = getattr(aiopyrq.sync, kind)(name, client)
    await dead.add_items(items_named(10))
    assert await dead.get_items(10) == items_named(10)
    await age_lease(dead, 60)
    assert reaper.recover(lease_timeout=30) == 10
    assert reaper.get_items(10) == items_named(10)
    reaper.ack_items(items_named(10))
    assert await dead.get_count() == 0


async def test_dead_letters_across_twins(client, async_client, name):
    """Deliveries counted by one twin count in the other: the second reject is the dead one."""
    sync_queue = aiopyrq.sync.Queue(name, client, max_deliveries=2)
    async_queue = aiopyrq.Queue(name, async_client, max_deliveries=2)
    sync_queue.add_item("a")
    assert sync_queue.get_items(1) == ["a"]
    assert sync_queue.reject_item("a") == 0
    assert await async_queue.get_items(1) == ["a"]
    assert await async_queue.reject_item("a") == 1
    assert sync_queue.get_dead_items() == ["a"]
    assert sync_queue.requeue_dead_items() == 1
    assert await async_queue.get_items(1) == ["a"]
    await async_queue.ack_item("a")


async def test_async_waiting_get_woken_by_sync_add(client, async_client, name):
    """An async get blocked on an empty queue returns the item a sync producer adds."""
    consumer = aiopyrq.Queue(name, async_client)
    producer = aiopyrq.sync.Queue(name, client)
    waiting = asyncio.create_task(consumer.get_items(10, wait=10))
    await asyncio.sleep(0.2)
    await asyncio.to_thread(producer.add_items, ["a", "b"])
    assert await asyncio.wait_for(waiting, 10) == ["a", "b"]
    await consumer.ack_items(["a", "b"])


async def test_sync_waiting_get_woken_by_async_add(client, async_client, name):
    """A sync get blocked on an empty queue (in a thread) returns what an async producer adds."""
    consumer = aiopyrq.sync.Queue(name, client)
    producer = aiopyrq.Queue(name, async_client)
    waiting = asyncio.create_task(asyncio.to_thread(consumer.get_items, 10, 10))
    await asyncio.sleep(0.2)
    await producer.add_items(["a", "b"])
    assert await asyncio.wait_for(waiting, 10) == ["a", "b"]
    consumer.ack_items(["a", "b"])


async def test_pool_across_twins(client, async_client, name):
    """A Pool item added by one twin is handed out and acked by the other, both ways."""
    sync_pool = aiopyrq.sync.Pool(name, client)
    async_pool = aiopyrq.Pool(name, async_client)
    sync_pool.add_items(["a", "b"])
    assert sorted(await async_pool.get_items(10)) == ["a", "b"]
    await async_pool.ack_items(["a", "b"])
    assert sync_pool.get_count_to_process() == 0
    await async_pool.add_item("c")
    assert sync_pool.get_items(10) == ["c"]
    sync_pool.ack_item("c")
    assert await async_pool.get_count_to_process() == 0
    assert sync_pool.get_count() == 3


@pytest.mark.parametrize("unique", [False, True], ids=["queue", "unique"])
async def test_sharded_across_twins(unique, client, async_client, name):
    """A sync ShardedQueue's items are taken and acked by an async one, and the reverse."""
    sync_sharded = aiopyrq.sync.ShardedQueue(name, client, shards=3, unique=unique)
    async_sharded = aiopyrq.ShardedQueue(name, async_client, shards=3, unique=unique)
    sync_sharded.add_items(items_named(30))
    taken = await async_sharded.get_items(100)  # each shard asked for a third at most
    assert sorted(taken) == sorted(items_named(30))
    await async_sharded.ack_items(taken[:10])
    await async_sharded.reject_items(taken[10:])
    await async_sharded.add_items(items_named(5, "more"))
    again = sync_sharded.get_items(100)
    assert Counter(again) == Counter(taken[10:] + items_named(5, "more"))
    sync_sharded.ack_items(again)
    assert sync_sharded.get_count() == 0
    assert await async_sharded.get_count() == 0
