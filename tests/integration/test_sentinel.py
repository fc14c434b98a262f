"""Sentinel: clients from ``Sentinel.master_for``, WAIT on the master's replicas, failover.

The session's ``sentinel_group`` (a master, 2 replicas, 3 sentinels) serves every test but
the failover one, which kills the master of a group of its own. The behaviour suite of
Queue, UniqueQueue and Pool runs on this deployment too (tests/integration/conftest.py).
Clients retry with a backoff, as a user would configure them to outlast a failover.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff

from aiopyrq import Consumer, NotEnoughSyncedSlavesError, Pool, Queue, UniqueQueue
from tests.failover_run import run_through_failover
from tests.harness import SentinelGroup
from tests.helpers import data_keys

pytestmark = pytest.mark.redis

KINDS = {"queue": Queue, "unique": UniqueQueue}
BOUND = 10  # seconds: the bound of any wait


@contextlib.asynccontextmanager
async def master_clients(group: SentinelGroup, count: int):
    """count clients of the group's master, each with its Sentinel, retrying on errors."""
    sentinels = [Sentinel(group.sentinel_addresses) for _ in range(count)]
    clients = [
        sentinel.master_for(
            group.service_name,
            decode_responses=True,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 8),
        )
        for sentinel in sentinels
    ]
    try:
        yield clients
    finally:
        for client in clients:
            await client.aclose()
        for sentinel in sentinels:
            for watcher in sentinel.sentinels:
                await watcher.aclose()


@pytest.fixture
async def master(sentinel_group):
    """A client of the session group's master."""
    async with master_clients(sentinel_group, 1) as (client,):
        yield client


@pytest.mark.parametrize("kind", KINDS)
async def test_consumers_on_sentinel(sentinel_group, name, kind):
    """Three Consumers, each with a client of its own, handle every item once."""
    items = [f"item-{i}" for i in range(300)]
    handled = []

    async def handle(item: str) -> None:
        handled.append(item)
        if len(handled) == len(items):
            for consumer in consumers:
                consumer.stop()

    async with master_clients(sentinel_group, 3) as clients:
        queues = [KINDS[kind](name, client) for client in clients]
        consumers = [
            Consumer(queue, handle, concurrency=4, batch_size=10, wait=0.5) for queue in queues
        ]
        await queues[0].add_items(items)
        await asyncio.wait_for(
            asyncio.gather(*(c.run(handle_signals=False) for c in consumers)), 30
        )
        assert sorted(handled) == sorted(items)
        assert sum(c.stats.acked for c in consumers) == len(items)
        left = data_keys(await clients[0].keys(f"{name}*"))
        assert set(left) <= {f"{name}-recovery-lock"}  # expires by itself


@pytest.mark.parametrize("kind", KINDS)
async def test_waiting_gets_on_sentinel(master, name, kind):
    """A waiting get of a queue and of a pool returns as soon as an item comes."""
    queue, pool = KINDS[kind](name, master), Pool(f"{name}-pool", master)
    getting = asyncio.create_task(queue.get_items(5, wait=BOUND))
    pooling = asyncio.create_task(pool.get_items(5, wait=BOUND))
    await asyncio.sleep(0.2)
    assert not getting.done()
    assert not pooling.done()
    await KINDS[kind](name, master).add_items(["a", "b"])
    await pool.add_items(["p"])
    assert await asyncio.wait_for(getting, BOUND) == ["a", "b"]
    assert await asyncio.wait_for(pooling, BOUND) == ["p"]
    await queue.ack_items(["a", "b"])
    await pool.clear_pool()
    assert data_keys(await master.keys(f"{name}*")) == []


async def test_synced_write_is_on_every_replica(sentinel_group, master, name):
    """With synced_slaves_count=2 each write is on both replicas as soon as it returns."""
    queue = Queue(name, master, synced_slaves_enabled=True, synced_slaves_count=2)
    replicas = [
        redis.asyncio.Redis.from_url(server.url, decode_responses=True)
        for server in sentinel_group.replicas
    ]
    try:
        await queue.add_items(["a", "b", "c"])
        assert [await r.lrange(name, 0, -1) for r in replicas] == [["c", "b", "a"]] * 2
        assert await queue.get_items(2) == ["a", "b"]
        await queue.ack_item("a")
        await queue.reject_item("b")
        assert [await r.lrange(name, 0, -1) for r in replicas] == [["c", "b"]] * 2
        assert [await r.exists(queue.processing_queue_name) for r in replicas] == [0, 0]
        await queue.delete_items(["b", "c"])
        assert [await r.exists(name) for r in replicas] == [0, 0]
    finally:
        for replica in replicas:
            await replica.aclose()


async def test_too_few_replicas_raise_on_sentinel(master, name):
    """With synced_slaves_count=3 and two replicas a write is done, then raises."""
    queue = Queue(name, master, synced_slaves_enabled=True, synced_slaves_count=3)
    with pytest.raises(NotEnoughSyncedSlavesError) as caught:
        await queue.add_items(["a"])
    assert (caught.value.synced, caught.value.required) == (2, 3)
    assert await master.lrange(name, 0, -1) == ["a"]
    await master.delete(name)


@pytest.fixture
def own_group():
    """A sentinel group of this test's own: a master, 2 replicas, 3 sentinels."""
    with SentinelGroup() as group:
        yield group


@pytest.mark.slow
async def test_failover_loses_nothing(own_group, name):
    """The master killed mid-run: Consumers reconnect, a blocked one resumes, nothing is lost.

    A Consumer's get that fails is tried again on a new connection, which asks the
    sentinels where the master is. (A command that redis-py retries on its own connection
    goes on reconnecting to the old master: redis-py issue 3874.)
    """
    group = own_group
    old = group.master
    promoted = []

    def kill_and_wait() -> None:
        start = time.monotonic()
        group.kill_master()
        promoted.append(group.wait_for_failover(timeout=30))
        print(f"failover took {time.monotonic() - start:.1f} s")  # noqa: T201

    async with master_clients(group, 7) as clients:
        counts = await run_through_failover(clients, name, f"{name}-idle", kill_and_wait)
        for client in clients:
            assert client.connection_pool.master_address == (promoted[0].host, promoted[0].port)
    assert promoted[0] is not old
    assert counts["lost"] == 0
