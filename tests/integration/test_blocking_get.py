"""Blocking batch get: ``get_items(count, wait=...)`` on Queue, UniqueQueue and Pool.

A waiting get returns as soon as an item comes, or ``[]`` once ``wait`` has passed; it
blocks in Redis (BLMOVE) instead of polling, and a task cancelled at any moment of it loses
no item: whatever it moved is in its processing list, with a lease that recovery reads.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import TYPE_CHECKING

import pytest
import redis.asyncio

from aiopyrq import Pool, Queue, UniqueQueue
from tests.helpers import data_keys, items_named, server_now

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.redis

KINDS = {"queue": Queue, "unique": UniqueQueue}
BOUND = 10  # seconds: the bound of any wait for a task of the test


async def timed(operation):
    """Await operation; return its result and the seconds it took."""
    start = time.monotonic()
    result = await operation
    return result, time.monotonic() - start


@pytest.mark.parametrize("kind", KINDS)
async def test_wait_returns_nothing_after_wait(client, name, kind):
    """With nothing coming, a get that waits 1 s returns [] after about 1 s."""
    queue = KINDS[kind](name, client)
    items, seconds = await timed(queue.get_items(5, wait=1))
    assert items == []
    assert 0.9 <= seconds < 3
    assert await client.exists(queue.processing_queue_name) == 0


@pytest.mark.parametrize("kind", KINDS)
async def test_wait_returns_as_soon_as_items_come(client, name, kind):
    """A waiting get returns once items are added, up to count of them, oldest first."""
    queue, producer = KINDS[kind](name, client), KINDS[kind](name, client)
    items = items_named(5)
    start = time.monotonic()
    getting = asyncio.create_task(queue.get_items(3, wait=BOUND))
    await asyncio.sleep(0.2)
    assert not getting.done()  # it waits

    await producer.add_items(items)
    taken = await asyncio.wait_for(getting, BOUND)
    assert time.monotonic() - start < BOUND / 2  # well before the wait ends
    assert taken == items[:3]
    assert sorted(await client.lrange(queue.processing_queue_name, 0, -1)) == items[:3]
    assert await queue.get_items(5) == items[3:]


async def test_unique_wait_takes_items_out_of_the_unique_set(client, name):
    """UniqueQueue: items a waiting get takes (the one BLMOVE moved too) stop being waiting."""
    queue, producer = UniqueQueue(name, client), UniqueQueue(name, client)
    items = items_named(4)
    getting = asyncio.create_task(queue.get_items(2, wait=BOUND))
    await asyncio.sleep(0.2)
    await producer.add_items(items)
    taken = await asyncio.wait_for(getting, BOUND)

    assert taken == items[:2]
    assert await client.smembers(queue.set_name) == set(items[2:])
    await producer.add_items(items)  # taken items may be added again, waiting ones not
    assert await client.lrange(name, 0, -1) == [items[1], items[0], items[3], items[2]]
    assert await client.smembers(queue.set_name) == set(items)


@pytest.mark.parametrize("kind", KINDS)
async def test_waiting_get_keeps_fifo_order(client, name, kind):
    """Items added one by one to waiting gets come out in the order they were added."""
    queue, producer = KINDS[kind](name, client), KINDS[kind](name, client)
    items = items_named(6)
    taken = []
    for i in range(0, len(items), 2):
        getting = asyncio.create_task(queue.get_items(10, wait=BOUND))
        await asyncio.sleep(0.05)
        await producer.add_item(items[i])
        await producer.add_item(items[i + 1])
        taken += await asyncio.wait_for(getting, BOUND)
    taken += await queue.get_items(10)
    assert taken == items


@pytest.mark.parametrize("kind", KINDS)
async def test_items_waiting_already_return_at_once(client, name, kind):
    """With items waiting, a get that may wait 30 s returns them without blocking."""
    queue = KINDS[kind](name, client)
    items = items_named(5)
    await queue.add_items(items)
    taken, seconds = await timed(queue.get_items(3, wait=30))
    assert taken == items[:3]
    assert seconds < BOUND / 2


@pytest.mark.parametrize("kind", KINDS)
async def test_get_without_wait_behaves_as_before(client, name, kind):
    """Without wait, an empty queue gives [] at once and leaves no key; items come FIFO."""
    queue = KINDS[kind](name, client)
    assert await queue.get_items(5) == []
    assert data_keys(await client.keys(f"{name}*")) == []
    items = items_named(4)
    await queue.add_items(items)
    assert await queue.get_items(3) == items[:3]
    assert await queue.get_items(3) == items[3:]


@pytest.mark.parametrize("kind", KINDS)
async def test_wait_zero_does_not_block(client, name, kind):
    """wait=0 is a get that does not block: [] at once, or the items waiting."""
    queue = KINDS[kind](name, client)
    empty, seconds = await timed(queue.get_items(5, wait=0))
    assert empty == []
    assert seconds < 0.5
    await queue.add_items(["a", "b"])
    assert await queue.get_items(5, wait=0) == ["a", "b"]


@pytest.mark.parametrize("kind", KINDS)
async def test_negative_wait_is_refused(client, name, kind):
    """A negative wait raises ValueError (a non-number TypeError) and takes nothing."""
    queue = KINDS[kind](name, client)
    await queue.add_item("a")
    with pytest.raises(ValueError, match="wait"):
        await queue.get_items(1, wait=-1)
    with pytest.raises(ValueError, match="wait"):
        await queue.get_items(1, wait=-0.001)
    with pytest.raises(TypeError, match="wait"):
        await queue.get_items(1, wait="1")
    assert await queue.get_count() == 1
    assert await client.exists(queue.processing_queue_name) == 0


async def cancel_after(task: asyncio.Task, steps: int) -> None:
    """Let the event loop run steps times, then cancel the task."""
    for _ in range(steps):
        await asyncio.sleep(0)
    task.cancel()


def outcome(result: object) -> str:
    """What became of a cancelled get: cancelled, or what it returned or raised."""
    if isinstance(result, asyncio.CancelledError):
        return "cancelled"
    if isinstance(result, BaseException):
        return type(result).__name__
    return "returned"


@pytest.mark.parametrize("kind", KINDS)
async def test_get_cancelled_while_waiting_loses_nothing(redis_server, client, name, kind):
    """A waiting get cancelled before, during or right after an add loses no item."""
    producer, collector = KINDS[kind](name, client), KINDS[kind](name, client)
    consumer_client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
    consumers, outcomes, added = [collector], [], []
    try:
        for round_ in range(24):
            await consumer_client.ping()  # connected: the cancel lands in the get itself
            queue = KINDS[kind](name, consumer_client)
            consumers.append(queue)
            getting = asyncio.create_task(queue.get_items(10, wait=5))
            await asyncio.sleep(0.01 * (round_ % 3))  # not started, or waiting in BLMOVE
            item = f"item-{round_}"
            if round_ % 4 == 0:  # cancelled before the add
                await cancel_after(getting, round_ % 3)
                await producer.add_item(item)
            else:  # cancelled while the add wakes it up, or just after
                await producer.add_item(item)
                await cancel_after(getting, round_ % 6)
            added.append(item)
            done = await asyncio.wait_for(asyncio.gather(getting, return_exceptions=True), BOUND)
            outcomes.append(outcome(done[0]))
            await collector.get_items(10)  # what no get took: the next one has to wait
    finally:
        await consumer_client.aclose()

    held = []
    for queue in consumers:
        holds = await client.lrange(queue.processing_queue_name, 0, -1)
        if holds:  # recovery finds it through its lease
            assert await client.hexists(producer.timeouts_hash_name, queue.processing_queue_name)
        held.append(holds)
    moved_then_cancelled = sum(
        1 for how, holds in zip(outcomes, held[1:], strict=True) if how == "cancelled" and holds
    )
    print(f"{Counter(outcomes)}, cancelled after a move: {moved_then_cancelled}")  # noqa: T201
    held = [item for holds in held for item in holds]
    assert await client.llen(name) == 0
    assert Counter(held) == Counter(added)

    assert await producer.re_enqueue_all_items() == len(held)
    assert Counter(await client.lrange(name, 0, -1)) == Counter(added)
    assert await client.keys(f"{name}-processing-*") == []
    assert await client.exists(producer.timeouts_hash_name) == 0
    if kind == "unique":
        assert await client.smembers(producer.set_name) == set(added)


@pytest.mark.parametrize("kind", KINDS)
async def test_waiting_tasks_of_one_client_take_a_batch_whole(client, name, kind):
    """Tasks of one client waiting on an empty queue: a batch added goes to one of them whole.

    Only one of them blocks in Redis; were all four blocked, Redis would hand each one item.
    """
    consumers = [KINDS[kind](name, client) for _ in range(4)]
    waiting = [asyncio.create_task(c.get_items(100, wait=1.5)) for c in consumers]
    await asyncio.sleep(0.3)
    blocked = [e for e in await client.client_list() if e["cmd"] == "blmove"]
    assert len(blocked) == 1
    await consumers[0].add_items(items_named(100))
    got = await asyncio.wait_for(asyncio.gather(*waiting), BOUND)
    assert sorted(len(items) for items in got) == [0, 0, 0, 100]
    assert Counter(i for items in got for i in items) == Counter(items_named(100))


async def test_a_waiting_task_cancelled_hands_its_turn_on(client, name):
    """The blocked task cancelled, the next waiting task blocks and gets the next item."""
    first, second = Queue(name, client), Queue(name, client)
    blocked = asyncio.create_task(first.get_items(10, wait=BOUND))
    await asyncio.sleep(0.2)
    next_in_turn = asyncio.create_task(second.get_items(10, wait=BOUND))
    await asyncio.sleep(0.2)
    blocked.cancel()
    await asyncio.gather(blocked, return_exceptions=True)
    await asyncio.sleep(0.2)
    await first.add_items(["late"])
    got, seconds = await timed(asyncio.wait_for(next_in_turn, BOUND))
    assert got == ["late"]
    assert seconds < 1
    assert await client.lrange(first.processing_queue_name, 0, -1) == []  # it moved nothing
    assert await client.lrange(second.processing_queue_name, 0, -1) == ["late"]


async def test_a_task_waiting_its_turn_returns_after_wait(client, name):
    """A task waiting behind a blocked one returns [] once its own wait has passed."""
    first, second = Queue(name, client), Queue(name, client)
    blocked = asyncio.create_task(first.get_items(10, wait=BOUND))
    await asyncio.sleep(0.2)
    got, seconds = await timed(second.get_items(10, wait=0.5))
    assert got == []
    assert 0.45 < seconds < 2
    await first.add_items(["x"])
    assert await asyncio.wait_for(blocked, BOUND) == ["x"]


async def test_idle_waiting_consumer_does_not_poll(redis_server, client, name):
    """A consumer waiting on an empty queue sends a handful of commands per wait period.

    Each wait (1 s): the get's take and its BLMOVE; after 50 ms, on a connection of its own
    (made, named, then closed), the SUBSCRIBE that listens for delayed items and the
    script that tells when the next one is due. Nothing in a loop.
    """
    label = f"{name}-idle"
    idle_client = redis.asyncio.Redis.from_url(
        redis_server.url, decode_responses=True, client_name=label
    )
    queue = Queue(name, idle_client)

    async def wait_forever() -> None:
        while True:
            await queue.get_items(10, wait=1)

    waiting = asyncio.create_task(wait_forever())
    try:
        await asyncio.sleep(0.3)
        mine = {entry["addr"].rsplit(":", 1)[1] for entry in await client.client_list()}
        mine -= {e["addr"].rsplit(":", 1)[1] for e in await idle_client.client_list()}
        sent = await commands_from(client, lambda port: port not in mine, seconds=2)
    finally:
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await idle_client.aclose()
    print(f"commands in 2 s: {sent}")  # noqa: T201 - for the log
    names = Counter(command.split()[0].upper() for command in sent)
    connecting = {"CLIENT", "HELLO"}  # a new connection's name and library
    assert set(names) <= {"EVALSHA", "BLMOVE", "SUBSCRIBE", *connecting}, names
    assert 1 <= names["BLMOVE"] <= 3  # 2 s with wait=1: at most 3 waits
    assert names["EVALSHA"] <= 2 * 3
    assert names["SUBSCRIBE"] <= 3
    assert sum(names.values()) <= 3 * (2 + 2 + 4)


async def commands_from(client, ports: Callable[[str], bool], seconds: float) -> list[str]:
    """The commands MONITOR shows from the TCP clients whose ports match, during seconds."""
    sent = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    async with client.monitor() as monitor:
        while (left := deadline - loop.time()) > 0:
            try:
                command = await asyncio.wait_for(monitor.next_command(), left)
            except asyncio.TimeoutError:
                break
            if command["client_type"] == "tcp" and ports(command["client_port"]):
                sent.append(command["command"])
    return sent


async def test_wait_longer_than_the_socket_timeout(redis_server, name):
    """A client with socket_timeout=1 can wait 3 s: the wait is split into shorter blocks."""
    impatient = redis.asyncio.Redis.from_url(
        redis_server.url, decode_responses=True, socket_timeout=1
    )
    try:
        queue = Queue(name, impatient)
        items, seconds = await timed(queue.get_items(5, wait=3))
        assert items == []
        assert 2.7 <= seconds < 5

        getting = asyncio.create_task(queue.get_items(5, wait=3))
        await asyncio.sleep(1.5)  # past the socket timeout
        await Queue(name, impatient).add_item("late")
        assert await asyncio.wait_for(getting, BOUND) == ["late"]
    finally:
        await impatient.aclose()


async def test_wait_longer_than_the_default_socket_timeout(redis_server, name):
    """A Queue from from_url (redis-py 8: 5 s socket timeout by default) can wait 5.5 s."""
    async with Queue.from_url(name, redis_server.url) as queue:
        items, seconds = await timed(queue.get_items(5, wait=5.5))
    assert items == []
    assert 5 <= seconds < 8


async def test_pool_wait_returns_an_item_once_it_is_due(client, name):
    """Pool: a get that waits 3 s returns an item due in 1 s once it is due."""
    pool = Pool(name, client)
    now = await server_now(client)
    await client.zadd(name, {"later": now + 1})
    assert await pool.get_items(5) == []
    items, seconds = await timed(pool.get_items(5, wait=3))
    assert items == ["later"]
    assert seconds < 2.5
    assert await client.zscore(name, "later") % 1 == pytest.approx(0.1)  # in flight


async def test_pool_wait_returns_nothing_after_wait(client, name):
    """Pool: with nothing due within the wait, a get that waits 1 s returns [] after it."""
    pool = Pool(name, client)
    now = await server_now(client)
    await client.zadd(name, {"tomorrow": now + 86400})
    items, seconds = await timed(pool.get_items(5, wait=1))
    assert items == []
    assert 0.9 <= seconds < 3
    assert await client.zscore(name, "tomorrow") == now + 86400


async def test_pool_wait_sees_an_item_added_meanwhile(client, name):
    """Pool: a waiting get returns an item another task adds while it waits."""
    pool = Pool(name, client)
    getting = asyncio.create_task(pool.get_items(5, wait=BOUND))
    await asyncio.sleep(0.2)
    assert not getting.done()
    await Pool(name, client).add_item("new")
    items, seconds = await timed(asyncio.wait_for(getting, BOUND))
    assert items == ["new"]
    assert seconds < 2.5


async def test_pool_negative_wait_is_refused(client, name):
    """Pool: a negative wait raises ValueError and hands out nothing."""
    pool = Pool(name, client)
    await pool.add_item("a")
    with pytest.raises(ValueError, match="wait"):
        await pool.get_items(1, wait=-1)
    assert await pool.get_count_to_process() == 1
