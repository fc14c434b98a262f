"""A ShardedQueue call that failed on some shards only, made again: it finishes, once.

One master of the session's cluster is stopped for a moment (well under its node timeout, so
no failover) while a client that gives up after a short timeout adds to or takes from a
sharded queue spread over every master: the shards elsewhere succeed, those of the stopped
master fail. The same call made again finishes the job: every item stored once, every item
taken handed out once, none stranded.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from uuid import uuid4

import pytest
import redis.exceptions
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from aiopyrq import ShardedQueue
from tests.helpers import waiting_in_shards

pytestmark = [pytest.mark.redis, pytest.mark.slow]

SHARDS = 6
STOPPED = 0.8  # seconds: under the cluster's node timeout (2 s)
FAILURES = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def impatient(cluster) -> RedisCluster:
    return RedisCluster(
        startup_nodes=cluster.startup_nodes,
        decode_responses=True,
        socket_timeout=0.1,
        retry=Retry(NoBackoff(), 0),
    )


async def with_one_master_stopped(cluster, queue: ShardedQueue, call):
    """Run call while the master of the queue's first shard is stopped; return its error."""
    master = cluster.master_of(queue.shards[0].keys.queue)
    master.pause()
    asyncio.get_running_loop().call_later(STOPPED, master.resume)
    try:
        await call
    except FAILURES as error:
        return error
    finally:
        await asyncio.sleep(STOPPED)
        master.resume()
    return None


async def held(client: RedisCluster, queue: ShardedQueue) -> Counter[str]:
    found: Counter[str] = Counter()
    for shard in queue.shards:
        found.update(await client.lrange(shard.processing_queue_name, 0, -1))
    return found


@pytest.fixture
async def clients(cluster):
    steady = RedisCluster(startup_nodes=cluster.startup_nodes, decode_responses=True)
    quick = impatient(cluster)
    await asyncio.gather(steady.initialize(), quick.initialize())
    try:
        yield steady, quick
    finally:
        await steady.aclose()
        await quick.aclose()


async def test_add_made_again_after_a_partial_failure_stores_each_item_once(cluster, clients):
    """An add that failed on one master's shards, made again, stores every item once."""
    steady, quick = clients
    name = f"partial-add-{uuid4().hex[:8]}"
    queue = ShardedQueue(name, quick, shards=SHARDS)
    items = [f"item-{i}" for i in range(300)]
    error = await with_one_master_stopped(cluster, queue, queue.add_items(items))
    assert error is not None, "the add did not fail on the stopped master's shards"
    assert await waiting_in_shards(steady, queue) <= Counter(items)  # none twice
    await queue.add_items(items)  # the same call, made again
    assert await waiting_in_shards(steady, queue) == Counter(items)


async def test_get_made_again_after_a_partial_failure_strands_nothing(cluster, clients):
    """A get that failed on one master's shards, made again, hands out what every shard took."""
    steady, quick = clients
    name = f"partial-get-{uuid4().hex[:8]}"
    items = [f"item-{i}" for i in range(300)]
    await ShardedQueue(name, steady, shards=SHARDS).add_items(items)
    queue = ShardedQueue(name, quick, shards=SHARDS)
    warm = await queue.get_items(SHARDS)  # a connection to every master, before the stop
    await queue.ack_items(warm)
    error = await with_one_master_stopped(cluster, queue, queue.get_items(60))
    assert error is not None, "the get did not fail on the stopped master's shards"
    taken = Counter(await queue.get_items(60))  # the same call, made again
    assert sum(taken.values()) == 60
    assert taken == await held(steady, queue)  # every item held was handed out, once
    assert taken + await waiting_in_shards(steady, queue) + Counter(warm) == Counter(items)
