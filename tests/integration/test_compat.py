"""Switching a live deployment: aio-py-rq 4.x and this library on the same keys.

The original library is not installed: ``OriginalQueue``, ``OriginalUniqueQueue`` and the
``original_*`` functions below send, one by one, the raw commands that the Lua scripts and
pipelines of aio-py-rq 4.1.0 send (RPOPLPUSH into the processing list, ``LREM processing -1``
on ack, LPOP + RPUSH on re-enqueue, ``int(float(stamp))`` to read a lease...). Each test drives
one side with these and the other with this library, and checks every key and every item.
"""

from __future__ import annotations

import math
import re

import pytest

from aiopyrq import Pool, Queue, UniqueQueue
from tests.helpers import age_lease, server_now

pytestmark = pytest.mark.redis

OLD = 10000  # seconds: a lease older than the default recovery timeout (7200)


class OriginalQueue:
    """The commands of aio-py-rq 4.x's Queue for one consumer, sent one by one."""

    def __init__(self, client, name: str, pid: int = 4242) -> None:
        self.client = client
        self.name = name
        self.client_id = f"old-host[{pid}][1600000000]"
        self.processing_queue_name = f"{name}-processing-{self.client_id}"
        self.timeouts_hash_name = f"{name}-timeouts"

    async def add_item(self, item) -> None:
        await self.client.lpush(self.name, item)

    async def add_items(self, items) -> None:
        for i in range(0, len(items), 10):  # one LPUSH per chunk of 10
            await self.client.lpush(self.name, *items[i : i + 10])

    async def get_items(self, count: int) -> list:
        items = []
        for _ in range(count):
            item = await self.client.rpoplpush(self.name, self.processing_queue_name)
            if item is None:
                break
            await self._taken(item)
            items.append(item)
        if await self.client.llen(self.processing_queue_name) > 0:
            now = await server_now(self.client)
            await self.client.hset(self.timeouts_hash_name, self.processing_queue_name, now)
        return items

    async def _taken(self, item) -> None:
        """Queue: nothing more; UniqueQueue: SREM."""

    async def ack_item(self, item) -> None:
        await self.client.lrem(self.processing_queue_name, -1, item)
        await self._release()

    async def ack_items(self, items) -> None:
        for item in items:
            await self.ack_item(item)

    async def reject_item(self, item) -> None:
        if await self.client.lrem(self.processing_queue_name, -1, item) == 1:
            await self._put_back(item)
        await self._release()

    async def reject_items(self, items) -> None:
        for item in reversed(items):
            await self.reject_item(item)

    async def _put_back(self, item) -> None:
        await self.client.rpush(self.name, item)

    async def _release(self) -> None:
        if await self.client.llen(self.processing_queue_name) == 0:
            await self.client.hdel(self.timeouts_hash_name, self.processing_queue_name)

    async def delete_item(self, item) -> None:
        await self.client.lrem(self.name, 0, item)

    async def re_enqueue_timeout_items(self, timeout: int = 7200) -> None:
        now = await server_now(self.client)
        leases = await self.client.hgetall(self.timeouts_hash_name)
        for processing, stamp in sorted(leases.items(), reverse=True):
            if int(float(stamp)) + timeout < now:
                while (item := await self.client.lpop(processing)) is not None:
                    await self._recover(item)
                await self.client.hdel(self.timeouts_hash_name, processing)

    async def _recover(self, item) -> None:
        await self.client.rpush(self.name, item)


class OriginalUniqueQueue(OriginalQueue):
    """The commands of aio-py-rq 4.x's UniqueQueue for one consumer, sent one by one."""

    @property
    def set_name(self) -> str:
        return f"{self.name}-unique"

    async def add_item(self, item) -> None:
        if not await self.client.sismember(self.set_name, item):
            await self.client.lpush(self.name, item)
            await self.client.sadd(self.set_name, item)

    async def add_items(self, items) -> None:
        for item in items:
            await self.add_item(item)

    async def _taken(self, item) -> None:
        await self.client.srem(self.set_name, item)

    async def _put_back(self, item) -> None:
        if not await self.client.sismember(self.set_name, item):
            await self.client.rpush(self.name, item)
            await self.client.sadd(self.set_name, item)

    async def delete_item(self, item) -> None:
        await self.client.lrem(self.name, 1, item)
        await self.client.srem(self.set_name, item)

    async def _recover(self, item) -> None:
        if await self.client.sismember(self.set_name, item):
            await self.client.lrem(self.name, -1, item)
            await self.client.rpush(self.name, item)
        else:
            await self.client.rpush(self.name, item)
            await self.client.sadd(self.set_name, item)


async def original_can_rollback_item(client, name, item, max_retry, max_timeout) -> bool:
    """aio-py-rq 4.x's can_rollback_item, sent one command at a time."""
    minute = await server_now(client) // 60
    if await client.hget(f"{name}-retry-count", item) is None:
        await client.hset(f"{name}-retry-count", item, 0)
        await client.hset(f"{name}-retry-timeout", item, minute)
    await client.hincrby(f"{name}-retry-count", item, 1)
    count = int(await client.hget(f"{name}-retry-count", item))
    first = int(await client.hget(f"{name}-retry-timeout", item))
    return not (count > max_retry and minute - first > max_timeout)


def original_in_flight(score: float) -> bool:
    """The original Pool's test of an item in flight (ack and remove act only on those)."""
    return score - math.floor(score) > 0.01


async def original_pool_get(client, name, count, ack_ttl) -> list:
    """aio-py-rq 4.x's Pool.get_items, command by command."""
    now = await server_now(client)
    due = await client.zrangebyscore(name, "-inf", now, start=0, num=count, withscores=True)
    for item, score in due:
        await client.zadd(name, {item: math.floor(score) + ack_ttl + 0.1})
    return [item for item, _ in due]


async def original_pool_ack(client, name, item, ack_valid_for) -> None:
    """aio-py-rq 4.x's Pool.ack_item, command by command."""
    score = await client.zscore(name, item)
    if score is not None and original_in_flight(score):
        await client.zadd(name, {item: await server_now(client) + ack_valid_for})


async def original_pool_remove(client, name, item) -> None:
    """aio-py-rq 4.x's Pool.remove_item, command by command."""
    score = await client.zscore(name, item)
    if score is not None and original_in_flight(score):
        await client.zrem(name, item)


async def snapshot(client, name: str, consumer_ids=()) -> dict:
    """Every key of a structure: type and content, the name and consumer ids made generic.

    Lease stamps must be whole seconds as the original writes them (``int(float(v))`` reads
    them back); they are replaced by ``"<stamp>"``.
    """

    def generic(text: str) -> str:
        text = text.replace(name, "NAME", 1)
        for i, consumer in enumerate(consumer_ids):
            text = text.replace(consumer, f"<consumer {i}>")
        return text

    state = {}
    async for key in client.scan_iter(match=f"{name}*"):
        if "-call-" in key:  # a reply kept for a retry: this library's, expiring, not data
            continue
        if key == f"{name}-history":  # this library's counts per minute, expiring, not data
            continue
        kind = await client.type(key)
        if kind == "list":
            value = await client.lrange(key, 0, -1)
        elif kind == "set":
            value = await client.smembers(key)
        elif kind == "zset":
            value = await client.zrange(key, 0, -1, withscores=True)
        else:
            assert kind == "hash", (key, kind)
            value = await client.hgetall(key)
        if key == f"{name}-timeouts":
            assert all(re.fullmatch(r"\d+", stamp) for stamp in value.values()), value
            value = {generic(field): "<stamp>" for field in value}
        state[generic(key)] = (kind, value)
    return state


# --- The original wrote the keys; this library reads and continues. ---


async def test_reads_a_queue_written_by_the_original(client, name):
    """Items LPUSHed by the original (in chunks of 10) are taken in FIFO order, every one."""
    items = [f"item-{i}" for i in range(25)]
    original = OriginalQueue(client, name)
    await original.add_items(items)
    await original.add_item("last")
    queue = Queue(name, client)
    assert await queue.get_count() == 26
    taken = []
    for _ in range(10):  # bounded: 26 items, 4 per get
        chunk = await queue.get_items(4)
        if not chunk:
            break
        taken += chunk
    assert taken == [*items, "last"]
    assert await client.lrange(queue.processing_queue_name, 0, -1) == taken[::-1]


def aged(queue):
    """Make the lease of one of our queues, or of the original's, look OLD seconds old."""
    client = queue.client if isinstance(queue, OriginalQueue) else queue.redis
    return age_lease(queue, OLD, client)


async def old_and_fresh_consumers(client, name, original_class=OriginalQueue):
    """Six items; a dead original consumer holds three, a live one two; one waits."""
    await original_class(client, name).add_items([f"i{n}" for n in range(6)])
    dead = original_class(client, name, pid=1)
    assert await dead.get_items(3) == ["i0", "i1", "i2"]
    await aged(dead)
    live = original_class(client, name, pid=2)
    assert await live.get_items(2) == ["i3", "i4"]
    return dead, live


async def test_recovers_an_expired_processing_list_of_the_original(client, name):
    """re_enqueue_timeout_items puts a dead original consumer's items first, oldest first."""
    dead, live = await old_and_fresh_consumers(client, name)
    live_lease = await client.hget(live.timeouts_hash_name, live.processing_queue_name)
    queue = Queue(name, client)
    assert await queue.re_enqueue_timeout_items() == 3
    assert not await client.exists(dead.processing_queue_name)
    assert await client.hgetall(queue.timeouts_hash_name) == {
        live.processing_queue_name: live_lease
    }
    assert await client.lrange(live.processing_queue_name, 0, -1) == ["i4", "i3"]
    assert await queue.get_items(10) == ["i0", "i1", "i2", "i5"]
    await queue.ack_items(["i0", "i1", "i2", "i5"])
    await live.ack_items(["i3", "i4"])
    assert await snapshot(client, name) == {}


async def test_drops_an_expired_processing_list_of_the_original(client, name):
    """drop_timeout_items deletes a dead original consumer's items and keeps the live one's."""
    dead, live = await old_and_fresh_consumers(client, name)
    queue = Queue(name, client)
    assert await queue.drop_timeout_items() == 3
    assert not await client.exists(dead.processing_queue_name)
    assert list(await client.hgetall(queue.timeouts_hash_name)) == [live.processing_queue_name]
    assert await client.lrange(live.processing_queue_name, 0, -1) == ["i4", "i3"]
    assert await client.lrange(name, 0, -1) == ["i5"]


async def test_reads_a_unique_queue_written_by_the_original(client, name):
    """UniqueQueue honours the original's set: no duplicates, FIFO, recovery without doubles."""
    dead, live = await old_and_fresh_consumers(client, name, OriginalUniqueQueue)
    dead_list = dead.processing_queue_name
    await live.add_items(["i0", "new"])  # i0 waits again while the dead consumer holds it
    unique = UniqueQueue(name, client)
    await unique.add_items(["i5", "new", "mine"])  # i5 and new wait already
    assert await client.smembers(unique.set_name) == {"i5", "i0", "new", "mine"}
    assert await unique.get_count() == 4
    assert await unique.re_enqueue_timeout_items() == 3
    assert not await client.exists(dead_list)
    assert await unique.get_items(10) == ["i0", "i1", "i2", "i5", "new", "mine"]
    assert await client.smembers(unique.set_name) == set()
    assert await client.lrange(live.processing_queue_name, 0, -1) == ["i4", "i3"]


async def test_acks_pool_items_handed_out_by_the_original(client, name):
    """Pool reads the original's scores: due, in flight (x.1), and in flight long overdue."""
    now = await server_now(client)
    await client.zadd(
        name,
        {
            "due": now - 100,
            "flying": now + 500 + 0.1,
            "expired": now - 5 + 0.1,
            "acked": now + 1000,
        },
    )
    pool = Pool(name, client, ack_valid_for=3000)
    assert await pool.get_count() == 4
    assert await pool.get_count_to_process() == 2
    await pool.ack_items(["flying", "due", "acked"])
    assert await client.zscore(name, "flying") >= now + 3000
    assert await client.zscore(name, "due") == now - 100
    assert await client.zscore(name, "acked") == now + 1000
    assert sorted(await pool.get_items(10)) == ["due", "expired"]
    await pool.remove_item("expired")
    assert await client.zrange(name, 0, -1) == ["due", "acked", "flying"]


async def test_continues_the_rollback_counters_of_the_original(client, name):
    """can_rollback_item counts on from the original's retry-count and retry-timeout hashes."""
    minute = await server_now(client) // 60
    await client.hset(f"{name}-retry-count", mapping={"old": 3, "recent": 3, "few": 1})
    await client.hset(
        f"{name}-retry-timeout", mapping={"old": minute - 100, "recent": minute - 10, "few": 0}
    )
    queue = Queue(name, client, max_retry_rollback=3, max_timeout_in_queue=60)
    assert not await queue.can_rollback_item("old")
    assert await queue.can_rollback_item("recent")
    assert await queue.can_rollback_item("few")
    assert await client.hgetall(f"{name}-retry-count") == {"old": "4", "recent": "4", "few": "2"}
    assert await client.hgetall(f"{name}-retry-timeout") == {
        "old": str(minute - 100),
        "recent": str(minute - 10),
        "few": "0",
    }
    await queue.reset_blocked_item("old")
    assert await queue.can_rollback_item("old")
    assert await client.hget(f"{name}-retry-count", "old") == "1"


# --- This library wrote the keys; the original could read and continue. ---


QUEUE_STEPS = [
    lambda q: q.add_items(["a", "b", "c", "a", "d"]),
    lambda q: q.add_item("e"),
    lambda q: q.get_items(4),
    lambda q: q.ack_item("a"),
    lambda q: q.reject_items(["c", "b", "nobody"]),
    lambda q: q.get_items(2),
    lambda q: q.ack_items(["b", "x"]),
    lambda q: q.add_items([f"n{i}" for i in range(12)]),
    lambda q: q.delete_item("n3"),
    lambda q: q.get_items(3),
    lambda q: q.reject_item("d"),
    aged,
    lambda q: q.re_enqueue_timeout_items(),
    lambda q: q.get_items(5),
    lambda q: q.ack_items(["c", "a", "d", "e", "n0"]),
    lambda q: q.get_items(100),
    lambda q: q.ack_items([f"n{i}" for i in range(12)]),
]

UNIQUE_STEPS = [
    lambda q: q.add_items(["a", "b", "c", "a", "d"]),
    lambda q: q.add_item("b"),
    lambda q: q.get_items(3),
    lambda q: q.add_items(["a", "e"]),
    lambda q: q.reject_items(["b", "a"]),
    lambda q: q.get_items(2),
    lambda q: q.ack_item("x"),
    lambda q: q.delete_item("d"),
    lambda q: q.add_item("a"),
    aged,
    lambda q: q.re_enqueue_timeout_items(),
    lambda q: q.get_items(2),
    lambda q: q.ack_items(["c"]),
    lambda q: q.get_items(100),
    lambda q: q.ack_items(["a", "b", "d", "e"]),
]


@pytest.mark.parametrize(
    ("ours", "original", "steps"),
    [(Queue, OriginalQueue, QUEUE_STEPS), (UniqueQueue, OriginalUniqueQueue, UNIQUE_STEPS)],
    ids=["Queue", "UniqueQueue"],
)
async def test_keys_are_those_the_original_leaves(client, name, ours, original, steps):
    """After each call, this library's keys are exactly those the original leaves."""
    new, old = ours(f"{name}-new", client), original(client, f"{name}-old")
    for step in steps:
        got = await step(new)
        expected = await step(old)
        if isinstance(expected, list):
            assert got == expected
        assert await snapshot(client, new.name, [new.client_id]) == await snapshot(
            client, old.name, [old.client_id]
        )
    assert await snapshot(client, new.name) == {}


async def test_lease_is_an_integer_server_second(client, name):
    """A get writes the lease as a whole server second, as the original's int(time.time())."""
    queue = Queue(name, client)
    await queue.add_items(["a", "b"])
    before = await server_now(client)
    await queue.get_items(1)
    after = await server_now(client)
    stamp = await client.hget(f"{name}-timeouts", f"{name}-processing-{queue.client_id}")
    assert re.fullmatch(r"\d+", stamp)
    assert before <= int(float(stamp)) <= after


async def test_original_consumer_recovers_our_processing_list(client, name):
    """The original's recovery moves back a dead consumer's list of ours, in FIFO order."""
    items = [f"item-{i}" for i in range(7)]
    ours = Queue(name, client)
    await ours.add_items(items)
    assert await ours.get_items(3) == items[:3]
    await ours.ack_item("item-1")
    await aged(ours)
    original = OriginalQueue(client, name)
    await original.re_enqueue_timeout_items()
    assert not await client.exists(ours.processing_queue_name)
    assert not await client.exists(ours.timeouts_hash_name)
    assert await original.get_items(100) == ["item-0", "item-2", *items[3:]]
    await original.ack_items(["item-2", "item-0"])
    await original.ack_items(items[3:])
    assert await snapshot(client, name) == {}


async def test_old_and_new_consumers_share_one_queue(client, name):
    """Original and new consumers interleaved on one queue lose and duplicate no item."""
    ours, original = Queue(name, client), OriginalQueue(client, name)
    await ours.add_items([f"new-{i}" for i in range(10)])
    await original.add_items([f"old-{i}" for i in range(5)])
    done = []
    taken = await original.get_items(4)
    await original.ack_items(taken[:2])
    done += taken[:2]
    taken = await ours.get_items(4)
    await ours.ack_items(taken[1:])
    done += taken[1:]
    await ours.reject_item(taken[0])
    await aged(original)  # the original consumer died holding two items
    assert await ours.re_enqueue_timeout_items() == 2
    assert await ours.get_items(3) == ["new-2", "new-3", "new-4"]
    await aged(ours)  # and now ours died holding three
    replacement = OriginalQueue(client, name, pid=7)
    await replacement.re_enqueue_timeout_items()
    taken = await replacement.get_items(100)
    await replacement.ack_items(taken)
    done += taken
    assert sorted(done) == sorted([f"new-{i}" for i in range(10)] + [f"old-{i}" for i in range(5)])
    assert await snapshot(client, name) == {}


async def test_unique_set_written_by_us_keeps_the_original_from_duplicating(client, name):
    """The original's add (SISMEMBER on NAME-unique) sees items this library added."""
    ours = UniqueQueue(name, client)
    await ours.add_items(["a", "b"])
    original = OriginalUniqueQueue(client, name)
    await original.add_items(["a", "b", "c"])
    assert await client.lrange(name, 0, -1) == ["c", "b", "a"]
    assert await ours.get_items(1) == ["a"]
    await original.add_item("a")
    assert await original.get_items(10) == ["b", "c", "a"]
    assert await client.smembers(f"{name}-unique") == set()


async def test_pool_scores_are_those_the_original_reads(client, name):
    """Scores written by Pool are due / in flight for the original's get, ack and remove."""
    pool = Pool(name, client, ack_ttl=600, ack_valid_for=3000)
    await pool.add_items(["a", "b", "c"])
    assert await original_pool_get(client, name, 1, 600) == ["a"]  # equal scores: by name
    await pool.delete_items(["a", "b", "c"])

    await pool.add_items(["a", "b", "c"])
    assert await pool.get_items(2) == ["a", "b"]
    before = await server_now(client)
    await original_pool_ack(client, name, "a", 3000)
    await original_pool_remove(client, name, "b")
    await original_pool_remove(client, name, "c")
    scores = dict(await client.zrange(name, 0, -1, withscores=True))
    assert set(scores) == {"a", "c"}
    assert not original_in_flight(scores["a"])
    assert scores["a"] >= before + 3000

    assert await pool.get_items(10) == ["c"]
    await pool.ack_item("c")
    await original_pool_remove(client, name, "c")
    assert await pool.is_in_pool("c")
    assert not original_in_flight(await client.zscore(name, "c"))
    assert await original_pool_get(client, name, 10, 600) == []


async def test_rollback_counters_are_those_the_original_keeps(client, name):
    """can_rollback_item writes the counters as the original does, and the original reads ours."""
    ours = Queue(f"{name}-new", client, max_retry=2, max_timeout=60)
    old = f"{name}-old"
    before = await server_now(client) // 60
    for _ in range(3):
        assert await ours.can_rollback_item("x")
        assert await original_can_rollback_item(client, old, "x", 2, 60)
    after = await server_now(client) // 60
    for prefix in (ours.name, old):
        assert await client.hgetall(f"{prefix}-retry-count") == {"x": "3"}
        first = (await client.hgetall(f"{prefix}-retry-timeout"))["x"]
        assert re.fullmatch(r"\d+", first)
        assert before <= int(first) <= after
    await client.hset(f"{ours.name}-retry-timeout", "x", after - 61)
    assert not await original_can_rollback_item(client, ours.name, "x", 2, 60)
    assert not await ours.can_rollback_item("x")
    assert await client.hget(f"{ours.name}-retry-count", "x") == "5"
