"""Calls larger than a chunk, and items a decoding client could not read back."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from aiopyrq import Consumer, Pool, Queue, ShardedQueue, UniqueQueue
from aiopyrq._base import CHUNK_ITEMS
from tests.helpers import until

if TYPE_CHECKING:
    import redis.asyncio

pytestmark = pytest.mark.redis

KINDS = {"queue": Queue, "unique": UniqueQueue, "pool": Pool}
UNREADABLE = [b"\xff\xfe", b"ok\xc3", b"\x80"]


async def script_calls(client: redis.asyncio.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


@pytest.mark.parametrize("kind", KINDS)
async def test_large_add_and_get_go_in_chunks(client, name, kind):
    """An add or get of more than CHUNK_ITEMS items is several script calls, in order."""
    structure = KINDS[kind](name, client)
    items = [f"item-{i:05d}" for i in range(CHUNK_ITEMS * 2 + 500)]
    await structure.add_items(["warm-up"])  # the script is loaded: one call per chunk below
    assert await structure.get_items(1) == ["warm-up"]
    before = await script_calls(client)
    await structure.add_items(items)
    assert await script_calls(client) - before == 3
    before = await script_calls(client)
    taken = await structure.get_items(len(items) + 10)
    assert await script_calls(client) - before == 3  # 1000, 1000, then 500 of the 510 asked
    assert (taken if kind != "pool" else sorted(taken)) == items


@pytest.mark.parametrize("kind", [Queue, UniqueQueue], ids=["queue", "unique"])
async def test_get_of_a_few_chunks_stops_at_count(client, name, kind):
    """A get of more than a chunk takes exactly count items when more wait."""
    queue = kind(name, client)
    items = [f"item-{i:05d}" for i in range(CHUNK_ITEMS * 2)]
    await queue.add_items(items)
    assert await queue.get_items(CHUNK_ITEMS + 1) == items[: CHUNK_ITEMS + 1]
    assert await queue.get_count() == CHUNK_ITEMS - 1


@pytest.mark.parametrize("kind", [*KINDS, "sharded"])
async def test_unreadable_bytes_refused_by_a_decoding_client(client, name, kind):
    """A client that decodes replies refuses bytes it could not read back, writing nothing."""
    structure = (
        ShardedQueue(name, client, shards=2) if kind == "sharded" else KINDS[kind](name, client)
    )
    for bad in UNREADABLE:
        with pytest.raises(ValueError, match="decodes replies"):
            await structure.add_items(["fine", bad])
    assert await structure.get_count() == 0
    assert await client.keys(f"*{name}*") == []


@pytest.mark.parametrize("kind", KINDS)
async def test_bytes_client_stores_any_bytes(raw_client, name, kind):
    """A client that returns bytes takes and gives back any bytes."""
    structure = KINDS[kind](name, raw_client)
    await structure.add_items(UNREADABLE)
    assert sorted(await structure.get_items(10)) == sorted(UNREADABLE)


async def test_readable_bytes_accepted_by_a_decoding_client(client, name):
    """Bytes that decode are stored as they are and come back as str."""
    queue = Queue(name, client)
    await queue.add_items(["é".encode(), b"plain"])
    assert await queue.get_items(2) == ["é", "plain"]


@pytest.mark.parametrize("kind", KINDS)
async def test_unreadable_item_written_by_another_client_poisons_nothing(
    client, raw_client, name, kind
):
    """An item a decoding client cannot decode comes back as bytes; the rest as str."""
    await KINDS[kind](name, raw_client).add_items([b"before", b"\xff\xfe", b"after"])
    structure = KINDS[kind](name, client)
    taken = await structure.get_items(10)
    assert sorted(taken, key=repr) == sorted(["before", b"\xff\xfe", "after"], key=repr)
    await structure.ack_items(taken)
    assert await structure.get_items(10) == []


async def test_waiting_get_wakes_on_an_unreadable_item(client, raw_client, name):
    """A waiting get on a decoding client is woken by an item it cannot decode, and takes it."""
    queue = Queue(name, client)
    waiting = asyncio.create_task(queue.get_items(5, wait=10))
    await asyncio.sleep(0.2)
    await Queue(name, raw_client).add_items([b"\xff\xfe"])
    assert await asyncio.wait_for(waiting, 10) == [b"\xff\xfe"]


async def test_consumer_never_loops_on_an_unreadable_item(client, raw_client, name):
    """A Consumer hands the item to its handler as bytes; failing, it goes to the dead letters."""
    await Queue(name, raw_client).add_items([b"ok-1", b"\xff\xfe", b"ok-2"])
    queue = Queue(name, client, max_deliveries=2)
    handled: list[object] = []

    async def handle(item: object) -> None:
        handled.append(item)
        if isinstance(item, bytes):
            raise TypeError(item)

    consumer = Consumer(queue, handle, wait=0.1)
    running = asyncio.create_task(consumer.run(handle_signals=False))
    await until(queue.get_dead_count, "the unreadable item dead-lettered")
    consumer.stop()
    await running
    assert sorted(item for item in handled if isinstance(item, str)) == ["ok-1", "ok-2"]
    assert handled.count(b"\xff\xfe") == 2
    assert await Queue(name, raw_client).get_dead_items() == [b"\xff\xfe"]
    assert await queue.get_count() == 0
