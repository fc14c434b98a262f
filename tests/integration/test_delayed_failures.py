"""Delayed items through failures: a consumer SIGKILLed, the server restarted from its AOF.

Every item is counted: none lost, none taken twice, none taken before its due time by the
server's clock.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING

import pytest
import redis.asyncio

from aiopyrq import Queue, UniqueQueue
from tests.harness import RedisServer
from tests.helpers import BOUND, held_by_all, items_named, server_ms, start_consumer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

pytestmark = [pytest.mark.redis, pytest.mark.slow]

KINDS = {"queue": Queue, "unique": UniqueQueue}


@pytest.fixture
def aof_server() -> Iterator[RedisServer]:
    """A server of the test's own, its append-only file fsynced at every write."""
    with RedisServer(appendonly=True) as server:
        yield server


@pytest.fixture
async def aof_client(aof_server) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(aof_server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def first_due(client, queue) -> int:
    [(_, due)] = await client.zrange(queue.keys.delayed, 0, 0, withscores=True)
    return int(due)



async def nothing_taken_before(client, name: str, due: int) -> None:
    """Until the server's clock reaches due, no consumer holds or has recorded an item.

    Each look is followed by a read of the server's clock: a look that came back before
    due found nothing taken.
    """
    for _ in range(int(BOUND / 0.02)):
        held = await held_by_all(client, name) + await client.llen(f"{name}-done")
        now = await server_ms(client)
        if now >= due:
            return
        assert held == 0, f"{held} items taken {due - now} ms before they were due"
        await asyncio.sleep(0.02)
    pytest.fail("the due time never came")



@pytest.mark.parametrize("kind", KINDS)
async def test_consumer_killed_holding_items_that_were_delayed(aof_server, aof_client, name, kind):
    """A consumer SIGKILLed holding items that waited their delay: recovered, each done once;
    the items still delayed then stay delayed until due."""
    client = aof_client
    queue = KINDS[kind](name, client)
    soon, later = items_named(30, "soon"), items_named(20, "later")
    await queue.add_items(soon, delay=1.0)
    await queue.add_items(later, delay=6.0)
    due_soon = await first_due(client, queue)
    victim = await start_consumer(aof_server.url, name, kind, "--hold-at", "1")
    try:
        await nothing_taken_before(client, name, due_soon)
        words = (await asyncio.wait_for(victim.stdout.readline(), BOUND)).decode().split()
        assert words[:2] == ["HOLDING", "10"], words
        victim.kill()
        await victim.wait()
    finally:
        if victim.returncode is None:
            victim.kill()
            await victim.wait()
    assert await held_by_all(client, name) == 10
    if await server_ms(client) < due_soon + 5000:
        assert await queue.get_delayed_count() == len(later)
    assert await queue.re_enqueue_all_items() == 10
    due_later = int((await client.zrange(queue.keys.delayed, 0, 0, withscores=True))[0][1])

    rescuer = await start_consumer(aof_server.url, name, kind, "--max-seconds", "40")
    try:
        await nothing_taken_before_later(client, name, due_later, later)
        await client.set(f"{name}-end", 1)  # now it exits once the queue is empty
        words = (await asyncio.wait_for(rescuer.stdout.readline(), 40)).decode().split()
    finally:
        if rescuer.returncode is None:
            rescuer.kill()
        await rescuer.wait()
    done = Counter(await client.lrange(f"{name}-done", 0, -1))
    assert done == Counter(soon + later), words
    assert await queue.get_count() == await queue.get_delayed_count() == 0
    assert await held_by_all(client, name) == 0


async def taken_items(client, name: str) -> set[str]:
    """The items held by any consumer or recorded as done (an item may be both at once)."""
    lists = [*await client.keys(f"{name}-processing-*"), f"{name}-done"]
    return {item for key in lists for item in await client.lrange(key, 0, -1)}


async def nothing_taken_before_later(client, name: str, due: int, later: list[str]) -> None:
    """Until due, the rescuer takes the recovered and due items only, none of the later ones.

    Items are told by name: one recorded as done and not yet acked is both held and done.
    """
    for _ in range(int(BOUND / 0.02)):
        early = await taken_items(client, name) & set(later)
        now = await server_ms(client)
        if now >= due:
            return
        assert not early, f"{len(early)} delayed items taken {due - now} ms early"
        await asyncio.sleep(0.02)
    pytest.fail("the due time never came")


@pytest.mark.parametrize("kind", KINDS)
async def test_delayed_items_survive_a_server_restart(aof_server, aof_client, name, kind):
    """Items added or rejected with a delay are there after a restart from the AOF, still
    delayed until due, then each comes out once."""
    client = aof_client
    queue = KINDS[kind](name, client)
    now_items, later = items_named(50, "now"), items_named(50, "later")
    await queue.add_items(now_items)
    await queue.add_items(later, delay=5.0)
    taken = await queue.get_items(10)
    assert taken == now_items[:10]
    await queue.ack_items(taken[:5])
    await queue.reject_items(taken[5:], delay=5.0)
    due = await first_due(client, queue)

    aof_server.kill()
    aof_server.restart()
    await client.connection_pool.disconnect()  # connections to the killed server are gone

    counts = (await queue.get_count(), await queue.get_delayed_count())
    if await server_ms(client) < due:
        assert counts == (40, 55)
    got: list[str] = []
    for _ in range(int(BOUND / 0.05)):
        items = await queue.get_items(100)
        now = await server_ms(client)
        got += items
        delayed = [item for item in items if item.startswith("later") or item in taken[5:]]
        if now < due:
            assert delayed == [], f"{len(delayed)} taken {due - now} ms early"
        if len(got) >= 95:
            break
        await asyncio.sleep(0.05)
    await queue.ack_items(got)
    assert Counter(got) == Counter(now_items[10:] + taken[5:] + later)
    assert await queue.get_count() == await queue.get_delayed_count() == 0
