"""Consumers on a server that stalls again and again: every item handled once, none left.

The server is stopped (SIGSTOP) for a fraction of a second, over and over, while producers
add and Consumers take, handle and ack. The clients give up on replies after tens of
milliseconds and retry, as redis-py's policies do; calls run twice on the server. Every
item is counted: handled exactly once (no consumer dies here, so nothing is delivered
twice), acked, and nothing left in the queue or a processing list.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import TYPE_CHECKING

import pytest
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff

from aiopyrq import Consumer, Queue, UniqueQueue
from tests.harness import RedisServer
from tests.helpers import data_keys, until

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(180)]

ITEMS = 3_000  # 30 batches, 80 ms apart: the stalls fall among gets, acks and adds
STALLS = 12
POLICIES = {
    # redis-py's default policy with a short socket timeout: 3 retries, backing off
    "default": lambda: Retry(ExponentialBackoff(cap=0.2, base=0.01), 3),
    # an aggressive one: many retries, at once
    "aggressive": lambda: Retry(NoBackoff(), 50),
}


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A server of the test's own, to stop and start again."""
    with RedisServer() as server:
        yield server


async def stall_again_and_again(server: RedisServer, seed: int) -> int:
    """Stop the server STALLS times, 50 to 400 ms each, 100 to 300 ms apart."""
    rng = random.Random(seed)  # noqa: S311 - timings, not secrets
    for _ in range(STALLS):
        await asyncio.sleep(rng.uniform(0.1, 0.3))
        server.pause()
        try:
            await asyncio.sleep(rng.uniform(0.05, 0.4))
        finally:
            server.resume()
    return STALLS


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("kind", [Queue, UniqueQueue], ids=["queue", "unique"])
async def test_consumers_through_stalls_handle_every_item_once(own_server, name, kind, policy):
    """Producers and three Consumers through a dozen stalls: each item handled once."""
    clients = [
        redis.asyncio.Redis.from_url(
            own_server.url, decode_responses=True, socket_timeout=0.05, retry=POLICIES[policy]()
        )
        for _ in range(4)
    ]
    steady = redis.asyncio.Redis.from_url(own_server.url, decode_responses=True)
    items = [f"item-{i}" for i in range(ITEMS)]
    handled: Counter[str] = Counter()

    async def handle(item: str) -> None:
        handled[item] += 1
        await asyncio.sleep(0.002)

    async def produce() -> None:
        producer = kind(name, clients[0])
        for start in range(0, ITEMS, 100):
            batch = items[start : start + 100]
            while True:  # the producer's own retry: the same call, taking the same call key
                try:
                    await producer.add_items(batch)
                    break
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.08)  # items keep coming while the server stalls

    consumers = [
        Consumer(kind(name, client), handle, batch_size=50, concurrency=10, wait=0.5)
        for client in clients[1:]
    ]
    running = [asyncio.create_task(c.run(handle_signals=False)) for c in consumers]
    try:
        stalls = asyncio.create_task(stall_again_and_again(own_server, seed=len(name)))
        await asyncio.gather(produce(), stalls)
        await until(lambda: sum(handled.values()) >= ITEMS, "every item handled", timeout=60)
        await until(
            lambda: sum(c.stats.acked for c in consumers) >= ITEMS, "every item acked", timeout=30
        )
    finally:
        for consumer in consumers:
            consumer.stop()
        await asyncio.gather(*running, return_exceptions=True)
    left = data_keys(await steady.keys(f"{name}*"))
    print(  # noqa: T201 - the counts of the run, shown with -s
        f"{kind.__name__}/{policy}: {ITEMS} items, {stalls.result()} stalls, "
        f"{sum(handled.values())} handled, {sum(c.stats.acked for c in consumers)} acked, "
        f"{sum(c.stats.failed for c in consumers)} failed, keys left {left}"
    )
    try:
        assert handled == Counter(items), "an item lost or handled twice"
        assert sum(c.stats.acked for c in consumers) == ITEMS
        assert await steady.llen(name) == 0
        assert [key for key in left if "-processing-" in key] == []
    finally:
        for client in [*clients, steady]:
            await client.aclose()
