"""Delayed items: ``add_items(…, delay=)``, ``reject_items(…, delay=)`` and their counts.

A delayed item waits in ``NAME-delayed`` (a sorted set scored by its due time in ms, by the
server's clock) and becomes available when due: the get's script moves it, and a waiting get
wakes for it. "Not before due" is asserted by the server's clock exactly: a get whose reply
came back before the due time (server TIME read after it) returned nothing delayed; "arrives"
with generous bounded waits.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter

import pytest
import redis.asyncio
from redis.crc import key_slot

from aiopyrq import Queue, ShardedQueue, UniqueQueue
from aiopyrq import _snapshot as snapshot_module
from aiopyrq._keys import QueueKeys
from tests.helpers import BOUND, age_lease, data_keys, items_named, server_ms

pytestmark = [pytest.mark.redis, pytest.mark.all_deployments]

KINDS = {"queue": Queue, "unique": UniqueQueue}
DELAY = 1.0  # seconds


async def take_when_due(queue, count: int, due: int, client, key: str) -> list:
    """Get (without waiting) until the items come; every get before ``due`` returns nothing.

    Each get that returned while the server's clock (read after it) was still before due
    must have returned nothing delayed; the loop is bounded.
    """
    for _ in range(int(BOUND / 0.05)):
        items = await queue.get_items(count)
        now = await server_ms(client, key)
        if items:
            assert now >= due, f"{items} taken at {now}, due at {due}"
            return items
        if now >= due + 1000:
            pytest.fail(f"nothing taken {now - due} ms after the due time")
        await asyncio.sleep(0.05)
    pytest.fail("the items never came")


@pytest.mark.parametrize("kind", KINDS)
async def test_delayed_items_wait_until_due(client, name, kind):
    """Delayed items are counted apart, not taken before due, then come in their order."""
    queue = KINDS[kind](name, client)
    before = await server_ms(client, queue.keys.queue)
    await queue.add_items(["now-1", "now-2"])
    await queue.add_items(items_named(3, "later"), delay=DELAY)
    after = await server_ms(client, queue.keys.queue)
    scores = [score for _, score in await client.zrange(queue.keys.delayed, 0, -1, withscores=True)]
    assert len(scores) == 3
    assert all(before + 1000 <= score <= after + 1000 for score in scores)
    assert await queue.get_count() == 2
    assert await queue.get_delayed_count() == 3

    assert await queue.get_items(10) == ["now-1", "now-2"]
    due = int(min(scores))
    assert await take_when_due(queue, 10, due, client, queue.keys.queue) == items_named(3, "later")
    assert await queue.get_delayed_count() == 0
    assert await client.exists(queue.keys.delayed) == 0


@pytest.mark.parametrize("kind", KINDS)
async def test_waiting_get_wakes_when_due(client, name, kind):
    """A get that waits returns the delayed item once due, long before its wait ends."""
    queue = KINDS[kind](name, client)
    await queue.add_item("soon", delay=DELAY)
    [(_, due)] = await client.zrange(queue.keys.delayed, 0, -1, withscores=True)
    taken = await asyncio.wait_for(queue.get_items(5, wait=BOUND), BOUND)
    now = await server_ms(client, queue.keys.queue)
    assert taken == ["soon"]
    assert due <= now < due + BOUND * 1000 / 2


@pytest.mark.parametrize("kind", KINDS)
async def test_waiting_get_wakes_for_an_item_another_client_delays(
    client, async_client, name, kind
):
    """A get that waits with nothing delayed returns an item another client delays, when due.

    It returns within 2 s of the due time, so it heard of the item (the script that delayed
    it published its due time): else it would learn of it when its blocking command ends,
    4.5 s after it began (the client's socket timeout, 5 s, less half a second).
    """
    waiter, producer = KINDS[kind](name, client), KINDS[kind](name, async_client)
    get = asyncio.create_task(waiter.get_items(5, wait=3 * BOUND))
    await asyncio.sleep(0.3)  # the get is waiting (were it not yet, it would find the item)
    await producer.add_item("soon", delay=0.5)
    [(_, due)] = await client.zrange(waiter.keys.delayed, 0, -1, withscores=True)
    taken = await asyncio.wait_for(get, 3 * BOUND)
    now = await server_ms(client, waiter.keys.queue)
    assert taken == ["soon"]
    assert due <= now < due + 2000


async def test_queue_keeps_duplicates_while_delayed(client, name):
    """Queue: the same item delayed twice (and added once now) comes out three times."""
    queue = Queue(name, client)
    await queue.add_items(["x", "x"], delay=DELAY)
    await queue.add_item("x", delay=DELAY)
    await queue.add_item("x")
    assert await queue.get_delayed_count() == 3
    taken = await queue.get_items(10)
    while len(taken) < 4:
        taken += await asyncio.wait_for(queue.get_items(10, wait=BOUND), BOUND)
    assert taken == ["x"] * 4


async def test_unique_counts_a_delayed_item_as_waiting(client, name):
    """UniqueQueue: an item delayed is present: adding it again (now or later) does nothing."""
    queue = UniqueQueue(name, client)
    await queue.add_items(["a", "b"], delay=DELAY)
    await queue.add_items(["a", "c"])
    await queue.add_item("b", delay=DELAY * 10)
    assert await queue.get_count() == 1
    assert await queue.get_delayed_count() == 2
    assert await client.smembers(queue.set_name) == {"a", "b", "c"}
    await queue.delete_items(["b", "c"])  # delayed or waiting, both go
    assert await client.smembers(queue.set_name) == {"a"}
    assert await client.zrange(queue.keys.delayed, 0, -1) == ["a"]
    assert await queue.get_items(10, wait=BOUND) == ["a"]
    assert await client.exists(queue.set_name, queue.keys.delayed) == 0


@pytest.mark.parametrize("kind", KINDS)
async def test_reject_with_delay(client, name, kind):
    """A rejected item waits its delay, counted as a failed delivery, then comes back."""
    queue = KINDS[kind](name, client)
    await queue.add_items(["a", "b"])
    assert await queue.get_items(2) == ["a", "b"]
    assert await queue.reject_items(["a"], delay=DELAY) == 0
    before_due = await server_ms(client, queue.keys.queue)
    assert await queue.get_delayed_count() == 1
    assert await client.llen(queue.processing_queue_name) == 1
    assert await client.hgetall(queue.keys.deliveries) == {"a": "1"}
    [(_, due)] = await client.zrange(queue.keys.delayed, 0, -1, withscores=True)
    assert due >= before_due
    assert await take_when_due(queue, 5, int(due), client, queue.keys.queue) == ["a"]
    await queue.ack_items(["a", "b"])
    assert await client.exists(queue.keys.deliveries, queue.processing_queue_name) == 0


@pytest.mark.parametrize("kind", KINDS)
async def test_reject_with_delay_keeps_dead_letters(client, name, kind):
    """With max_deliveries, a delayed reject counts: the last one dead-letters, not delays."""
    queue = KINDS[kind](name, client, max_deliveries=2)
    await queue.add_item("a")
    assert await queue.get_items(1) == ["a"]
    assert await queue.reject_item("a", delay=0.2) == 0
    assert await asyncio.wait_for(queue.get_items(1, wait=BOUND), BOUND) == ["a"]
    assert await queue.reject_item("a", delay=0.2) == 1
    assert await queue.get_dead_items() == ["a"]
    assert await queue.get_delayed_count() == 0
    assert await client.exists(queue.keys.delayed, queue.keys.deliveries) == 0


async def test_reject_delay_from_failed_deliveries(client, name):
    """A delay function gets each item's failed deliveries, this one included."""
    queue = Queue(name, client)
    seen: list[int] = []

    def delay(deliveries: int) -> float:
        seen.append(deliveries)
        return 0.1

    await queue.add_item("a")
    for _ in range(3):
        assert await asyncio.wait_for(queue.get_items(1, wait=BOUND), BOUND) == ["a"]
        await queue.reject_item("a", delay=delay)
    assert seen == [1, 2, 3]
    assert await client.hget(queue.keys.deliveries, "a") == "3"


async def test_reject_splits_by_delay(client, name):
    """Items given different delays by the function wait each their own."""
    queue = Queue(name, client)
    await queue.add_items(["a", "b"])
    await queue.get_items(2)
    await queue.reject_item("a", delay=0.1)  # a has failed once, b never
    assert await asyncio.wait_for(queue.get_items(1, wait=BOUND), BOUND) == ["a"]
    await queue.reject_items(["a", "b"], delay=lambda n: 100.0 * n)
    scores = dict(await client.zrange(queue.keys.delayed, 0, -1, withscores=True))
    by_item = {member[20:]: score for member, score in scores.items()}
    assert by_item["a"] - by_item["b"] == pytest.approx(100_000, abs=2_000)


@pytest.mark.parametrize("bad", [-1, math.inf, math.nan, "1", None, True])
async def test_bad_delay_writes_nothing(client, name, bad):
    """A delay that is not a finite number >= 0 is refused before anything is written."""
    queue = Queue(name, client)
    error = TypeError if isinstance(bad, str | bool) or bad is None else ValueError
    if bad is not None:
        with pytest.raises(error):
            await queue.add_items(["a"], delay=bad)
    await queue.add_item("held")
    await queue.get_items(1)
    with pytest.raises(TypeError if bad is None else error):
        await queue.reject_items(["held"], delay=lambda _: bad)
    if bad is not None:
        with pytest.raises(error):
            await queue.reject_items(["held"], delay=bad)
    assert await client.lrange(queue.processing_queue_name, 0, -1) == ["held"]
    assert await client.exists(queue.keys.delayed, queue.keys.queue) == 0


async def test_delayed_key_in_the_structures_slot(client, name):
    """The delayed set is the structure's key: NAME-delayed, in its hash slot."""
    queue = Queue(name, client)
    await queue.add_item("a", delay=BOUND)
    assert queue.keys.delayed == f"{queue.keys.queue}-delayed"
    on_cluster = QueueKeys(name, cluster=True)  # a script with both keys works on a cluster
    assert key_slot(on_cluster.delayed.encode()) == key_slot(on_cluster.queue.encode())
    assert await queue.get_items(1) == []  # the get's script names both keys
    assert data_keys(await client.keys(f"{queue.keys.queue}*")) == [queue.keys.delayed]


async def test_sharded_queue_delays_in_each_shard(client, name):
    """ShardedQueue: delayed items spread over the shards, counted over all, all come."""
    queue = ShardedQueue(name, client, shards=3)
    items = items_named(6)
    await queue.add_items(items, delay=DELAY)
    assert await queue.get_count() == 0
    assert await queue.get_delayed_count() == 6
    assert all([await shard.get_delayed_count() for shard in queue.shards])
    taken: list = []
    for _ in range(20):
        taken += await asyncio.wait_for(queue.get_items(6, wait=BOUND), BOUND)
        if len(taken) == 6:
            break
    assert sorted(taken) == items
    await queue.reject_items(items[:2], delay=0.2)
    assert await queue.get_delayed_count() == 2
    again: list = []
    for _ in range(20):
        again += await asyncio.wait_for(queue.get_items(6, wait=BOUND), BOUND)
        if len(again) == 2:
            break
    assert sorted(again) == items[:2]
    await queue.ack_items(items)
    await queue.release()


@pytest.mark.parametrize("kind", KINDS)
async def test_recovery_of_items_that_were_delayed(client, name, kind):
    """Items that came out of the delay and were held by a dead consumer are recovered."""
    dead, alive = KINDS[kind](name, client), KINDS[kind](name, client)
    await dead.add_items(["a", "b"], delay=0.2)
    taken = await asyncio.wait_for(dead.get_items(2, wait=BOUND), BOUND)
    while len(taken) < 2:
        taken += await asyncio.wait_for(dead.get_items(2, wait=BOUND), BOUND)
    await age_lease(dead, 100)
    assert await alive.re_enqueue_timeout_items(30) == 2
    assert Counter(await alive.get_items(5)) == Counter(["a", "b"])


async def test_unique_recovery_of_an_item_delayed_again(client, name):
    """UniqueQueue: an item held by a dead consumer and delayed again comes back once, now."""
    dead, alive = UniqueQueue(name, client), UniqueQueue(name, client)
    await dead.add_item("a")
    assert await dead.get_items(1) == ["a"]
    await alive.add_item("a", delay=BOUND * 10)
    await age_lease(dead, 100)
    assert await alive.re_enqueue_timeout_items(30) == 1
    assert await alive.get_delayed_count() == 0
    assert await alive.get_items(5) == ["a"]
    assert await client.exists(alive.keys.delayed, alive.set_name) == 0


@pytest.mark.standalone_only
@pytest.mark.parametrize("kind", KINDS)
async def test_a_user_without_channels_delays_and_waits(redis_server, client, name, kind):
    """A user who may use no channel (ACL) delays items; its waiting get is not woken early.

    Its add publishes nothing and its get cannot listen (subscribing is refused): the item
    comes all the same, once due, when the get's wait next ends.
    """
    user = f"no-channels-{name}"
    await client.acl_setuser(
        user, enabled=True, nopass=True, keys=["*"], commands=["+@all"], reset=True
    )  # no channel: what Redis 7 gives a new user (acl-pubsub-default resetchannels)
    limited = redis.asyncio.Redis.from_url(
        redis_server.url, username=user, password="any", decode_responses=True  # noqa: S106
    )
    try:
        waiter, producer = KINDS[kind](name, limited), KINDS[kind](name, limited)
        get = asyncio.create_task(waiter.get_items(5, wait=BOUND))
        await asyncio.sleep(0.3)
        await producer.add_item("later", delay=0.5)
        assert await asyncio.wait_for(get, BOUND) == ["later"]
        assert await client.exists(waiter.keys.delayed) == 0
    finally:
        await limited.aclose()
        await client.acl_deluser(user)


@pytest.mark.standalone_only
async def test_snapshot_shows_delayed(redis_server, client, name):
    """The read model behind `aiopyrq stats` and the metrics counts delayed items apart."""
    queue = Queue(name, client)
    await queue.add_items(["a", "b"], delay=BOUND * 10)
    await queue.add_item("c")
    await client.zadd(queue.keys.delayed, {"0" * 20 + "due": 1})  # due long ago
    found = await asyncio.to_thread(read_snapshot, redis_server.url, name)
    assert (found.waiting, found.delayed) == (2, 2)
    assert found.to_json()["delayed"] == 2


def read_snapshot(url: str, name: str):
    """Read the structure as the command line does, with a sync client."""
    sync = snapshot_module.connect(url, cluster=False)
    try:
        return snapshot_module.read(sync, name, snapshot_module.detect_kind(sync, name))
    finally:
        sync.close()
