"""Replica acknowledgement: ``synced_slaves_enabled`` makes every write WAIT for replicas.

In the original every write with ``synced_slaves_enabled=True`` crashed (it called
``Redis.execute``, which does not exist). Here a write sends WAIT on the connection that made
it, right after it, so the write is on the replicas when the call returns, or
``NotEnoughSyncedSlavesError`` says it may not be. The ``replicated`` fixture has one replica.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import redis.asyncio

from aiopyrq import AiopyrqError, NotEnoughSyncedSlavesError, Pool, Queue, UniqueQueue
from tests.helpers import age_lease, data_keys

pytestmark = pytest.mark.redis

SYNCED = {"synced_slaves_enabled": True, "synced_slaves_count": 1}
FROZEN_TIMEOUT = 200  # ms


@pytest.fixture
async def master(replicated):
    """A client of the master whose ConnectionPool holds several connections."""
    pool = redis.asyncio.ConnectionPool.from_url(
        replicated.master.url, decode_responses=True, max_connections=16
    )
    client = redis.asyncio.Redis.from_pool(pool)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def replica(replicated):
    """A client of the replica, to read what it holds."""
    client = redis.asyncio.Redis.from_url(replicated.replica.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@contextlib.contextmanager
def frozen(replicated):
    """Freeze the replica; on exit resume it and wait until it has caught up."""
    replicated.replica.pause()
    try:
        yield
    finally:
        replicated.replica.resume()
        replicated.master.wait_for_replicas(1)


async def snapshot(client, name: str) -> dict:
    """Every key whose name starts with ``name``: its type and content."""
    state = {}
    async for key in client.scan_iter(match=f"{name}*"):
        kind = await client.type(key)
        if kind == "list":
            state[key] = await client.lrange(key, 0, -1)
        elif kind == "set":
            state[key] = await client.smembers(key)
        elif kind == "zset":
            state[key] = await client.zrange(key, 0, -1, withscores=True)
        elif kind == "string":  # the reply a call keeps for a retry, replicated too
            state[key] = await client.dump(key)
        else:
            assert kind == "hash", (key, kind)
            state[key] = await client.hgetall(key)
    return state


def queue_writes(delete_count):
    """Every write method of Queue or UniqueQueue, with the reads and set-ups between them.

    Each entry is (call, is a waiting write).
    """
    delete_args = (0,) if delete_count else ()
    return [
        (lambda q: q.add_item("a"), True),
        (lambda q: q.add_items(["b", "c", "d", "e", "f"]), True),
        (lambda q: q.get_items(4), False),
        (lambda q: q.ack_item("a"), True),
        (lambda q: q.ack_items(["b"]), True),
        (lambda q: q.reject_item("c"), True),
        (lambda q: q.reject_items(["d"]), True),
        (lambda q: q.delete_item("f", *delete_args), True),
        (lambda q: q.delete_items(["e"], *delete_args), True),
        (lambda q: q.get_items(1), False),
        (lambda q: q.release(), True),
        (lambda q: q.get_items(1), False),
        (lambda q: q.re_enqueue_all_items(), True),
        (lambda q: q.get_items(1), False),
        (lambda q: age_lease(q, 10800), False),
        (lambda q: q.re_enqueue_timeout_items(), True),
        (lambda q: q.get_items(1), False),
        (lambda q: q.drop_all_items(), True),
        (lambda q: q.get_items(1), False),
        (lambda q: age_lease(q, 10800), False),
        (lambda q: q.drop_timeout_items(), True),
    ]


POOL_WRITES = [
    (lambda p: p.add_item("a"), True),
    (lambda p: p.add_items(["b", "c", "d", "e", "f"]), True),
    (lambda p: p.get_items(6), False),
    (lambda p: p.ack_item("a"), True),
    (lambda p: p.ack_items(["b"]), True),
    (lambda p: p.remove_item("c"), True),
    (lambda p: p.remove_items(["d"]), True),
    (lambda p: p.delete_item("e"), True),
    (lambda p: p.delete_items(["a"]), True),
    (lambda p: p.clear_pool(), True),
]


@pytest.mark.parametrize(
    ("make", "steps"),
    [
        (lambda name, client: Queue(name, client, **SYNCED), queue_writes(delete_count=True)),
        (
            lambda name, client: UniqueQueue(name, client, **SYNCED),
            queue_writes(delete_count=False),
        ),
        (lambda name, client: Pool(name, client, **SYNCED), POOL_WRITES),
    ],
    ids=["Queue", "UniqueQueue", "Pool"],
)
async def test_every_write_is_on_the_replica_when_it_returns(master, replica, name, make, steps):
    """With synced_slaves_count=1, each write is on the replica as soon as the call returns."""
    structure = make(name, master)
    state = {}
    for step, waits in steps:
        await step(structure)
        if waits:
            on_replica = await snapshot(replica, name)  # read at once, no waiting
            new_state = await snapshot(master, name)
            assert new_state != state, "every step changes something"
            assert on_replica == new_state
        state = await snapshot(master, name)
    assert data_keys(state) == []


@pytest.mark.parametrize(
    ("make", "write", "expected"),
    [
        (Queue, lambda q: q.add_items(["x", "y"]), {"": ["y", "x", "old"]}),
        (UniqueQueue, lambda q: q.add_item("x"), {"": ["x", "old"], "-unique": {"x", "old"}}),
        (Queue, lambda q: q.delete_item("old"), {}),
        (Pool, lambda p: p.delete_items(["old"]), {}),
    ],
    ids=["Queue.add_items", "UniqueQueue.add_item", "Queue.delete_item", "Pool.delete_items"],
)
async def test_too_few_replicas_raise_after_the_write(master, name, make, write, expected):
    """With synced_slaves_count=2 and one replica, a write is done but raises the error."""
    if make is Pool:
        await master.zadd(name, {"old": 1})
    else:
        await make(name, master).add_item("old")
    structure = make(name, master, synced_slaves_enabled=True, synced_slaves_count=2)
    with pytest.raises(NotEnoughSyncedSlavesError) as caught:
        await write(structure)
    assert isinstance(caught.value, AiopyrqError)
    assert (caught.value.synced, caught.value.required) == (1, 2)
    state = await snapshot(master, name)
    data = {key: state[key] for key in data_keys(state)}
    assert data == {name + suffix: v for suffix, v in expected.items()}


async def test_script_write_with_too_few_replicas_raises_after_the_write(master, name):
    """A write made by a script (ack_items) is done too when too few replicas acknowledge it."""
    queue = Queue(name, master, synced_slaves_enabled=True, synced_slaves_count=2)
    await Queue(name, master).add_items(["a", "b"])
    assert await queue.get_items(2) == ["a", "b"]  # a get does not wait
    with pytest.raises(NotEnoughSyncedSlavesError) as caught:
        await queue.ack_items(["a"])
    assert (caught.value.synced, caught.value.required) == (1, 2)
    assert await master.lrange(queue.processing_queue_name, 0, -1) == ["b"]


async def test_frozen_replica_fails_the_write(replicated, master, name):
    """A write whose replica is frozen raises after the timeout, though the write is done.

    Meanwhile WAIT on another connection, whose writes are all acknowledged, returns 1 at
    once: the error shows that WAIT ran on the connection that made the write.
    """
    queue = Queue(name, master, **SYNCED, synced_slaves_timeout=FROZEN_TIMEOUT)
    await queue.add_item("before")
    async with redis.asyncio.Redis.from_url(replicated.master.url) as other:
        await other.set(f"{name}-other", 1)
        assert await other.execute_command("WAIT", 1, 1000) == 1
        with frozen(replicated):
            assert await other.execute_command("WAIT", 1, FROZEN_TIMEOUT) == 1
            with pytest.raises(NotEnoughSyncedSlavesError) as caught:
                await queue.add_item("during")
            assert (caught.value.synced, caught.value.required) == (0, 1)
            assert await master.lrange(name, 0, -1) == ["during", "before"]
        await other.delete(f"{name}-other")
    await queue.delete_items(["before", "during"])
    assert await master.exists(name) == 0


def concurrent_writers(name, master, count):
    """count structures of each kind, each with a write to make and how to count its items."""
    writers = []
    for i in range(count):
        queue = Queue(f"{name}-queue-{i}", master, **SYNCED, synced_slaves_timeout=FROZEN_TIMEOUT)
        unique = UniqueQueue(
            f"{name}-unique-{i}", master, **SYNCED, synced_slaves_timeout=FROZEN_TIMEOUT
        )
        pool = Pool(f"{name}-pool-{i}", master, **SYNCED, synced_slaves_timeout=FROZEN_TIMEOUT)
        items = [f"{i}-{n}" for n in range(50)]
        writers += [
            (lambda q=queue, i=items: q.add_items(i), lambda c, q=queue: c.llen(q.name)),
            (lambda u=unique, i=items: u.add_items(i), lambda c, u=unique: c.scard(u.set_name)),
            (lambda p=pool, i=items: p.add_items(i), lambda c, p=pool: c.zcard(p.name)),
        ]
    return writers


async def test_concurrent_writes_each_wait_for_the_replica(master, replica, name):
    """Writes made concurrently on several connections are each on the replica when done."""

    async def write_and_check(write, count_on):
        await write()
        return await count_on(replica)

    writers = concurrent_writers(name, master, 4)
    counts = await asyncio.gather(*(write_and_check(w, count_on) for w, count_on in writers))
    assert counts == [50] * len(writers)
    assert len(master.connection_pool._available_connections) > 1
    await master.delete(*[key async for key in master.scan_iter(match=f"{name}*")])


async def test_concurrent_writes_with_frozen_replica_all_fail(replicated, master, name):
    """Concurrent writes on several connections each raise while the replica is frozen."""
    writers = concurrent_writers(name, master, 3)
    with frozen(replicated):
        results = await asyncio.gather(*(write() for write, _ in writers), return_exceptions=True)
        assert all(isinstance(result, NotEnoughSyncedSlavesError) for result in results)
        assert {result.synced for result in results} == {0}
        for _, count_on in writers:
            assert await count_on(master) == 50
    await master.delete(*[key async for key in master.scan_iter(match=f"{name}*")])


async def test_scripts_are_reloaded_on_the_waiting_path(master, replica, name):
    """After SCRIPT FLUSH, script writes that wait for replicas reload and still wait."""
    queue = UniqueQueue(name, master, **SYNCED)
    pool = Pool(f"{name}-pool", master, **SYNCED, ack_valid_for=0)
    await master.script_flush()
    await queue.add_items(["a", "b", "c"])
    await pool.add_items(["p", "q"])
    assert await snapshot(replica, name) == await snapshot(master, name)
    assert await queue.get_items(3) == ["a", "b", "c"]
    assert sorted(await pool.get_items(2)) == ["p", "q"]
    await master.script_flush()
    await queue.ack_items(["a"])
    await pool.ack_items(["p"])
    assert await snapshot(replica, name) == await snapshot(master, name)
    await master.script_flush()
    await queue.reject_items(["b"])
    await pool.remove_items(["q"])
    await master.script_flush()
    assert await queue.re_enqueue_all_items() == 1
    on_replica = await snapshot(replica, name)
    assert on_replica == await snapshot(master, name)
    assert on_replica[name] == ["b", "c"]  # c, recovered, is taken first
    assert on_replica[f"{name}-unique"] == {"b", "c"}
    assert [item for item, _ in on_replica[f"{name}-pool"]] == ["p"]
    await master.delete(*on_replica)


async def test_frozen_replica_after_script_flush(replicated, name):
    """With the replica frozen, a script write reloaded after SCRIPT FLUSH is done, then raises.

    The connection's previous write is not acknowledged either, so the WAIT sent with the
    script call that Redis refused (NOSCRIPT) already falls short: the call must still be
    sent again once the script is loaded.
    """
    pool = redis.asyncio.ConnectionPool.from_url(
        replicated.master.url, decode_responses=True, max_connections=1
    )
    async with redis.asyncio.Redis.from_pool(pool) as master:
        queue = Queue(name, master, **SYNCED, synced_slaves_timeout=FROZEN_TIMEOUT)
        await queue.add_items(["a", "b"])
        assert await queue.get_items(2) == ["a", "b"]
        with frozen(replicated):
            with pytest.raises(NotEnoughSyncedSlavesError):
                await queue.add_item("c")
            await master.script_flush()
            with pytest.raises(NotEnoughSyncedSlavesError) as caught:
                await queue.ack_items(["a"])
            assert caught.value.synced == 0
            assert await master.lrange(queue.processing_queue_name, 0, -1) == ["b"]
        await master.delete(*[key async for key in master.scan_iter(match=f"{name}*")])
