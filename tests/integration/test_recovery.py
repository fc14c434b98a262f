"""Leases, heartbeats, locked recovery, release, and dead letters (``max_deliveries``).

Time passing is simulated by writing old lease stamps with HSET, never by sleeping, except
for the recovery lock, whose expiry is Redis's own (0.5 s here).
"""

from __future__ import annotations

import asyncio
import re

import pytest

from aiopyrq import Queue, UniqueQueue
from tests.helpers import age_lease, data_keys, items_named, server_now

pytestmark = pytest.mark.redis

KINDS = {"queue": Queue, "unique": UniqueQueue}
OLD = 10000  # seconds: a lease older than any timeout used here


async def original_re_enqueue_timeout_items(client, name: str, timeout: int) -> None:
    """aio-py-rq 4.x's re_enqueue_timeout_items, command by command, on the same keys."""
    leases = await client.hgetall(f"{name}-timeouts")
    for processing, stamp in sorted(leases.items(), reverse=True):
        if int(float(stamp)) + timeout < await server_now(client):
            while (item := await client.lpop(processing)) is not None:
                await client.rpush(name, item)
            await client.hdel(f"{name}-timeouts", processing)


async def assert_nothing_held(client, name: str) -> None:
    assert await client.keys(f"{name}-processing-*") == []
    assert await client.exists(f"{name}-timeouts") == 0


# --- Heartbeat ---


@pytest.mark.parametrize("kind", KINDS)
async def test_heartbeat_keeps_a_live_consumer_from_recovery(client, name, kind):
    """After a heartbeat, a consumer's items stay with it however old its last get is."""
    live, other = KINDS[kind](name, client), KINDS[kind](name, client)
    items = items_named(5)
    await live.add_items(items)
    taken = await live.get_items(3)
    await age_lease(live, OLD)
    await live.heartbeat()

    assert await other.re_enqueue_timeout_items(60) == 0
    assert await other.recover(lease_timeout=60, interval=0.01) == 0
    assert sorted(await client.lrange(live.processing_queue_name, 0, -1)) == sorted(taken)
    assert await other.get_count() == 2
    await live.ack_items(taken)
    await assert_nothing_held(client, name)


async def test_heartbeat_writes_the_lease_the_original_reads(client, name):
    """A heartbeat writes a whole server second; the original's recovery honours it."""
    live = Queue(name, client)
    items = items_named(4)
    await live.add_items(items)
    taken = await live.get_items(2)
    await age_lease(live, OLD)
    before = await server_now(client)
    await live.heartbeat()
    stamp = await client.hget(live.timeouts_hash_name, live.processing_queue_name)
    assert re.fullmatch(r"\d+", stamp)
    assert before <= int(stamp) <= await server_now(client)

    await original_re_enqueue_timeout_items(client, name, 60)
    assert sorted(await client.lrange(live.processing_queue_name, 0, -1)) == sorted(taken)

    await age_lease(live, OLD)  # the consumer died: no heartbeat since
    await original_re_enqueue_timeout_items(client, name, 60)
    await assert_nothing_held(client, name)
    assert await Queue(name, client).get_items(10) == items


async def test_re_enqueue_timeout_items_honours_the_lease_age(client, name):
    """re_enqueue_timeout_items(60) leaves a lease 59 s old and recovers one 62 s old."""
    dead, reaper = Queue(name, client), Queue(name, client)
    await dead.add_items(["a", "b"])
    await dead.get_items(2)
    await age_lease(dead, 59)
    assert await reaper.re_enqueue_timeout_items(60) == 0
    await age_lease(dead, 62)
    assert await reaper.re_enqueue_timeout_items(60) == 2
    assert await reaper.get_items(5) == ["a", "b"]


# --- recover(): the reaper's call, under a lock ---


@pytest.mark.parametrize("kind", KINDS)
async def test_recover_returns_a_dead_consumers_items(client, name, kind):
    """recover() puts back, oldest first, the items of a consumer whose lease is old."""
    dead, live, reaper = (KINDS[kind](name, client) for _ in range(3))
    items = items_named(6)
    await dead.add_items(items)
    assert await dead.get_items(3) == items[:3]
    assert await live.get_items(1) == items[3:4]
    await age_lease(dead, 31)

    assert await reaper.recover(lease_timeout=30, interval=5) == 3
    assert await client.exists(dead.processing_queue_name) == 0
    assert not await client.hexists(dead.timeouts_hash_name, dead.processing_queue_name)
    assert await client.lrange(live.processing_queue_name, 0, -1) == items[3:4]
    assert await reaper.get_items(10) == [*items[:3], *items[4:]]


async def test_only_one_of_two_concurrent_recoveries_runs(client, name):
    """Two reapers at once: one recovers, the other gets 0 and leaves the lock alone."""
    dead = Queue(name, client)
    await dead.add_items(items_named(3))
    await dead.get_items(3)
    await age_lease(dead, OLD)
    first, second = Queue(name, client), Queue(name, client)

    results = await asyncio.gather(
        first.recover(lease_timeout=30, interval=0.5),
        second.recover(lease_timeout=30, interval=0.5),
    )
    assert sorted(results) == [0, 3]
    assert 0 < await client.pttl(f"{name}-recovery-lock") <= 500
    assert await first.get_count() == 3


async def test_recovery_lock_holds_for_the_interval_then_expires(client, name):
    """Within the interval every recover() returns 0; once the lock expires one runs again."""
    reaper, other = Queue(name, client), Queue(name, client)
    assert await reaper.recover(lease_timeout=30, interval=0.5) == 0  # nothing to do: locks
    dead = Queue(name, client)
    await dead.add_items(items_named(2))
    await dead.get_items(2)
    await age_lease(dead, OLD)

    assert await other.recover(lease_timeout=30, interval=0.5) == 0
    assert await reaper.recover(lease_timeout=30, interval=0.5) == 0
    assert await client.llen(dead.processing_queue_name) == 2

    for _ in range(40):  # bounded: the lock expires after 0.5 s
        if not await client.exists(f"{name}-recovery-lock"):
            break
        await asyncio.sleep(0.05)
    assert await other.recover(lease_timeout=30, interval=0.5) == 2
    assert await client.exists(dead.processing_queue_name) == 0


# --- release(): a consumer that stops gives its items back ---


@pytest.mark.parametrize("kind", KINDS)
async def test_release_puts_items_back_at_the_front_in_order(client, name, kind):
    """release() puts the held items back first in line, in the order they were taken."""
    queue = KINDS[kind](name, client, max_deliveries=3)
    items = items_named(6)
    await queue.add_items(items)
    assert await queue.get_items(3) == items[:3]
    await queue.reject_item(items[0])  # counted once, back at the front
    assert await queue.get_items(2) == [items[0], items[3]]

    assert await queue.release() == 4
    await assert_nothing_held(client, name)
    assert await client.hgetall(f"{name}-deliveries") == {items[0]: "1"}  # uncounted
    assert await client.exists(f"{name}-dead") == 0
    assert await KINDS[kind](name, client).get_items(10) == [
        items[1],
        items[2],
        items[0],
        items[3],
        *items[4:],
    ]


@pytest.mark.parametrize("kind", KINDS)
async def test_release_with_nothing_held_drops_the_lease(client, name, kind):
    """release() with nothing held returns 0 and removes the lease a waiting get left."""
    queue = KINDS[kind](name, client)
    assert await queue.get_items(1, wait=0.05) == []
    assert await queue.release() == 0
    await assert_nothing_held(client, name)
    assert data_keys(await client.keys(f"{name}*")) == []


# --- Dead letters ---


@pytest.mark.parametrize("kind", KINDS)
async def test_item_rejected_max_deliveries_times_goes_to_dead_letters(client, name, kind):
    """With max_deliveries=3, the third reject of an item puts it in NAME-dead, not the queue."""
    queue = KINDS[kind](name, client, max_deliveries=3)
    await queue.add_items(["poison", "fine"])
    for delivery in range(1, 4):
        assert await queue.get_items(1) == ["poison"]
        await queue.reject_item("poison")
        if delivery < 3:
            assert await client.hget(f"{name}-deliveries", "poison") == str(delivery)
            assert await client.lrange(name, -1, -1) == ["poison"]

    assert await client.lrange(f"{name}-dead", 0, -1) == ["poison"]
    assert await client.lrange(name, 0, -1) == ["fine"]
    assert await client.hexists(f"{name}-deliveries", "poison") == 0
    if kind == "unique":
        assert await client.smembers(queue.set_name) == {"fine"}
    assert await queue.get_dead_count() == 1
    assert await queue.get_items(5) == ["fine"]
    await queue.ack_item("fine")
    await assert_nothing_held(client, name)


@pytest.mark.parametrize("kind", KINDS)
async def test_delivery_counts_survive_recoveries(client, name, kind):
    """Rejects and recoveries of dead consumers add up to max_deliveries together."""
    reaper = KINDS[kind](name, client, max_deliveries=3)
    await reaper.add_items(["x", "y"])

    first = KINDS[kind](name, client, max_deliveries=3)
    assert await first.get_items(1) == ["x"]
    await first.reject_item("x")
    assert await client.hget(f"{name}-deliveries", "x") == "1"

    second = KINDS[kind](name, client, max_deliveries=3)
    assert await second.get_items(1) == ["x"]
    await age_lease(second, OLD)  # second died holding x
    assert await reaper.re_enqueue_timeout_items(60) == 1
    assert await client.hget(f"{name}-deliveries", "x") == "2"
    assert await client.lrange(name, 0, -1) == ["y", "x"]

    third = KINDS[kind](name, client, max_deliveries=3)
    assert await third.get_items(1) == ["x"]
    await age_lease(third, OLD)
    assert await reaper.recover(lease_timeout=60, interval=0.01) == 1
    assert await reaper.get_dead_items() == ["x"]
    assert await client.lrange(name, 0, -1) == ["y"]
    assert await client.hgetall(f"{name}-deliveries") == {}
    await assert_nothing_held(client, name)


@pytest.mark.parametrize("kind", KINDS)
async def test_ack_forgets_delivery_counts(client, name, kind):
    """Acked items leave no delivery count behind: NAME-deliveries is empty after the acks."""
    queue = KINDS[kind](name, client, max_deliveries=5)
    items = items_named(40)
    await queue.add_items(items)
    taken = await queue.get_items(40)
    await queue.reject_items(taken)
    assert await client.hlen(f"{name}-deliveries") == 40

    taken = await queue.get_items(40)
    assert taken == items
    await queue.ack_items(taken[:30])
    assert await client.hlen(f"{name}-deliveries") == 10
    for item in taken[30:]:
        await queue.ack_item(item)
    assert await client.exists(f"{name}-deliveries") == 0
    await assert_nothing_held(client, name)


@pytest.mark.parametrize("kind", KINDS)
async def test_dead_letter_api(client, name, kind):
    """Dead letters can be counted, read, requeued (all or some) and purged, with counts."""
    queue = KINDS[kind](name, client, max_deliveries=1)
    items = items_named(6)
    await queue.add_items(items)
    await queue.reject_items(await queue.get_items(6))  # one failed delivery: all dead

    assert await queue.get_dead_count() == 6
    assert await queue.get_count() == 0
    assert await queue.get_dead_items(2) == items[:2]
    assert await queue.get_dead_items(0) == []
    assert await queue.get_dead_items() == items
    assert await queue.get_dead_count() == 6  # reading leaves them

    assert await queue.requeue_dead_items([items[1], "not-dead"]) == 1
    assert await queue.requeue_dead_items([]) == 0
    assert await queue.get_dead_items() == [items[0], *items[2:]]
    assert await queue.requeue_dead_items([items[2], items[3]]) == 2
    assert await queue.get_items(10) == items[1:4]  # at the end of the queue, in order

    assert await queue.requeue_dead_items() == 3
    assert await queue.get_dead_count() == 0
    taken = await queue.get_items(10)
    assert taken == [items[0], items[4], items[5]]

    await queue.reject_items(taken)  # counts were forgotten: one more failure kills
    assert await queue.get_dead_count() == 3
    assert await queue.purge_dead_items() == 3
    assert await queue.purge_dead_items() == 0
    assert await client.exists(f"{name}-dead") == 0
    assert await queue.get_count() == 0


async def test_unique_requeue_of_dead_does_not_duplicate_a_waiting_item(client, name):
    """UniqueQueue: requeueing a dead item that is waiting again leaves it waiting once."""
    queue = UniqueQueue(name, client, max_deliveries=1)
    await queue.add_items(["x", "y"])
    await queue.reject_items(await queue.get_items(2))
    await queue.add_item("x")  # added again meanwhile

    assert await queue.requeue_dead_items() == 1
    assert await queue.get_dead_count() == 0
    assert await client.lrange(name, 0, -1) == ["y", "x"]
    assert await client.smembers(queue.set_name) == {"x", "y"}


@pytest.mark.parametrize("kind", KINDS)
async def test_without_max_deliveries_nothing_is_counted_or_dead(client, name, kind):
    """Without max_deliveries, rejects and recoveries write no count and kill no item."""
    queue = KINDS[kind](name, client)
    await queue.add_item("x")
    for _ in range(5):
        assert await queue.get_items(1) == ["x"]
        await queue.reject_item("x")
    dead = KINDS[kind](name, client)
    assert await dead.get_items(1) == ["x"]
    await age_lease(dead, OLD)
    assert await queue.recover(lease_timeout=60, interval=0.01) == 1
    assert await queue.get_items(1) == ["x"]
    await queue.ack_item("x")

    assert await client.exists(f"{name}-deliveries", f"{name}-dead") == 0
    assert await queue.get_dead_count() == 0
    await assert_nothing_held(client, name)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", [0, -1])
async def test_max_deliveries_below_one_is_refused(client, name, kind, bad):
    """max_deliveries must be at least 1."""
    with pytest.raises(ValueError, match="max_deliveries"):
        KINDS[kind](name, client, max_deliveries=bad)


@pytest.mark.parametrize("bad", ["3", 2.5, True])
async def test_max_deliveries_must_be_an_int(client, name, bad):
    """max_deliveries must be an int."""
    with pytest.raises(TypeError, match="max_deliveries"):
        Queue(name, client, max_deliveries=bad)
