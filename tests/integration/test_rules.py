"""The Python restatements of the scripts' rules agree with the scripts, on a real server.

The stale-lease rule lives in lua/includes/lease.lua and the in-flight rule of a Pool item in
lua/includes/flight.lua; ``aiopyrq._snapshot`` restates both for the command line's dry
runs and the read model. Here both judge the same data around each boundary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import redis
import redis.asyncio

from aiopyrq import Pool, Queue, _snapshot

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from tests.harness import RedisServer

pytestmark = pytest.mark.redis

TIMEOUT = 10
ATTEMPTS = 5  # a second of the server's clock may tick between the two judgements: try again


@pytest.fixture
def sync_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_server.url, decode_responses=True) as client:
        yield client


@pytest.fixture
async def async_client(redis_server: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


def lease_stamps(now: int) -> dict[str, str]:
    """Lease stamps around the boundary of TIMEOUT seconds, by label."""
    edge = now - TIMEOUT
    return {
        "timeout-1": str(edge + 1),
        "timeout": str(edge),
        "timeout+1": str(edge - 1),
        "timeout+2": str(edge - 2),
        "timeout-0.5": f"{edge}.5",
        "timeout+0.5": f"{edge - 1}.5",
        "timeout+0.001": f"{edge - 1}.999",
        "timeout-0.999": f"{edge}.999",
        "timeout+0.999": f"{edge - 1}.001",
        "now": str(now),
        "future": str(now + 5),
        "exponent": f"{edge - 1}e0",
    }


async def test_stale_lease_python_matches_lua(sync_client, async_client, name):
    """QueueSnapshot.stale picks exactly the consumers whose lists the recovery script recovers."""
    for _ in range(ATTEMPTS):
        await async_client.delete(f"{name}-timeouts")
        now = int(sync_client.time()[0])
        stamps = lease_stamps(now)
        queue = Queue(name, async_client)
        lists = {label: queue.keys.processing(f"consumer-{label}") for label in stamps}
        for label, processing in lists.items():
            await async_client.rpush(processing, f"item-{label}")
            await async_client.hset(queue.keys.timeouts, processing, stamps[label])
        snapshot = _snapshot.read_queue(sync_client, name)
        predicted = {holder.processing_list for holder in snapshot.stale(TIMEOUT)}
        recovered_count = await queue.re_enqueue_timeout_items(TIMEOUT)
        after = int(sync_client.time()[0])
        recovered = {p for p in lists.values() if not await async_client.exists(p)}
        await async_client.delete(name, *lists.values(), queue.keys.timeouts)
        if snapshot.server_time == now == after:
            break
    else:
        pytest.fail("the server's clock ticked during every attempt")
    assert predicted == recovered
    assert recovered_count == len(recovered)
    by_list = {processing: label for label, processing in lists.items()}
    # The rule: the whole seconds of the lease, plus the timeout, are before now.
    assert sorted(by_list[p] for p in recovered) == sorted(
        ["timeout+1", "timeout+2", "timeout+0.5", "timeout+0.001", "timeout+0.999", "exponent"]
    )


def pool_scores(now: int) -> dict[str, str]:
    """Pool scores around due and in flight, by item, as ZADD takes them."""
    return {
        "due-past": str(now - 1),
        "due-now": str(now),
        "scheduled": str(now + 1),
        "in-flight": f"{now + 5}.1",
        "in-flight-this-second": f"{now}.1",
        "overdue-in-flight": f"{now - 5}.1",
        "fraction-0.01": f"{now + 5}.01",
        "fraction-0.011": f"{now + 5}.011",
        "fraction-0.009": f"{now + 5}.009",
        "fraction-0.5": f"{now + 5}.5",
        "fraction-0.999": f"{now + 5}.999",
        "small-fraction-due": f"{now - 3}.05",
    }


async def test_pool_rules_python_match_lua(sync_client, async_client, name):
    """PoolSnapshot counts due and in flight as the scripts do; in_flight(score) as they judge."""
    for _ in range(ATTEMPTS):
        now = int(sync_client.time()[0])
        scores = pool_scores(now)
        await async_client.zadd(name, {item: float(score) for item, score in scores.items()})
        for item, score in scores.items():  # the score as a string, as the scripts write it
            await async_client.execute_command("ZADD", name, score, item)
        snapshot = _snapshot.read_pool(sync_client, name)
        read = dict(await async_client.zrange(name, 0, -1, withscores=True))
        pool = Pool(name, async_client)
        due = await pool.get_count_to_process()
        await pool.remove_items(list(scores))  # removes exactly the items in flight
        left = set(await async_client.zrange(name, 0, -1))
        after = int(sync_client.time()[0])
        await async_client.delete(name)
        if snapshot.server_time == now == after:
            break
    else:
        pytest.fail("the server's clock ticked during every attempt")
    flying_in_lua = set(scores) - left
    assert {item for item, score in read.items() if _snapshot.in_flight(score)} == flying_in_lua
    assert snapshot.due == due
    assert snapshot.in_flight == sum(1 for item in flying_in_lua if read[item] > now)
    assert flying_in_lua >= {"in-flight", "in-flight-this-second", "overdue-in-flight"}
    assert not flying_in_lua & {"due-past", "due-now", "scheduled", "fraction-0.009"}
