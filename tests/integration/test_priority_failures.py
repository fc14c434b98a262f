"""Prioritised items through failures: consumers SIGKILLed while they hold them, then the
server SIGKILLed and restarted from its append-only file.

Every item is counted: none lost, none done twice, and the order in which a single
consumer then does them shows that each went back to the front of its own level.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING

import pytest
import redis.asyncio

from aiopyrq import Queue, UniqueQueue
from tests.harness import RedisServer
from tests.helpers import BOUND, held_by_all, items_named, start_consumer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

pytestmark = [pytest.mark.redis, pytest.mark.slow]

KINDS = {"queue": Queue, "unique": UniqueQueue}


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A server of the test's own, its append-only file fsynced at every write."""
    with RedisServer(appendonly=True) as server:
        yield server


@pytest.fixture
async def own_client(server) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()




@pytest.mark.parametrize("kind", KINDS)
async def test_consumers_killed_holding_prioritised_items(server, own_client, name, kind):
    """Two consumers SIGKILLed holding prioritised items: recovered to the front of their
    levels, then done once each, the highest level first and in order within each."""
    client = own_client
    queue = KINDS[kind](name, client)
    high, plain, low = items_named(25, "high"), items_named(15, "plain"), items_named(12, "low")
    await queue.add_items(plain)
    await queue.add_items(high, priority=5)
    await queue.add_items(low, priority=-2)
    victims = []
    try:
        for _ in range(2):
            victim = await start_consumer(server.url, name, kind, "--hold-at", "1")
            victims.append(victim)
            words = (await asyncio.wait_for(victim.stdout.readline(), BOUND)).decode().split()
            assert words[:2] == ["HOLDING", "10"], words
        for victim in victims:
            victim.kill()
            await victim.wait()
    finally:
        for victim in victims:
            if victim.returncode is None:
                victim.kill()
                await victim.wait()
    assert await held_by_all(client, name) == 20
    assert await client.zcard(queue.keys.priority) == 5 + 12
    assert await client.hlen(queue.keys.priorities) == 25 + 12
    server.kill()  # and back from the append-only file: the levels with the items
    server.restart()
    await client.connection_pool.disconnect()
    assert await held_by_all(client, name) == 20
    assert await client.zcard(queue.keys.priority) == 5 + 12
    assert await client.hlen(queue.keys.priorities) == 25 + 12
    assert await queue.re_enqueue_all_items() == 20
    assert await client.zcard(queue.keys.priority) == 25 + 12
    assert await queue.get_count() == 25 + 15 + 12

    await client.set(f"{name}-end", 1)  # the rescuer exits once the queue is empty
    rescuer = await start_consumer(server.url, name, kind, "--max-seconds", str(BOUND))
    try:
        words = (await asyncio.wait_for(rescuer.stdout.readline(), BOUND)).decode().split()
    finally:
        if rescuer.returncode is None:
            rescuer.kill()
        await rescuer.wait()
    assert words == ["DONE", str(25 + 15 + 12)], words
    done = await client.lrange(f"{name}-done", 0, -1)
    assert Counter(done) == Counter(high + plain + low)
    # Each victim's batch back at the front of the level, in its order (which victim's
    # first depends on the leases' ages, whole seconds), then the rest of each level.
    assert {tuple(done[:10]), tuple(done[10:20])} == {tuple(high[:10]), tuple(high[10:20])}
    assert done[20:] == high[20:] + plain + low
    assert await held_by_all(client, name) == 0
    assert await client.hlen(queue.keys.priorities) == 0
    assert await queue.get_count() == 0
