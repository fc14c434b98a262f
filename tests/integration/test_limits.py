"""Limits over every consumer: ``max_in_flight`` and ``rate_limit`` of Queue and UniqueQueue.

What is held is counted honestly, not from the library's own count: the items in every
processing list, summed by one atomic script (``held_now``), and, within one process,
a count raised when a get returns and lowered before the ack is sent (both can only
undercount what Redis holds, so a count above the cap is a real excess). The rate is
checked by client clock brackets: a get's items were taken between the moment it was
sent and the moment its reply came, so items whose brackets fit in one window were
surely taken within it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter

import pytest

from aiopyrq import Consumer, Queue, ShardedQueue, UniqueQueue
from tests.helpers import BOUND, Fleet, age_lease, items_named, until

pytestmark = [pytest.mark.redis, pytest.mark.all_deployments]

KINDS = {"queue": Queue, "unique": UniqueQueue}
SUM_LENGTHS = "local n = 0 for _, k in ipairs(KEYS) do n = n + redis.call('LLEN', k) end return n"


async def held_now(client, queues) -> int:
    """The items in the processing lists of these consumers, read at one moment."""
    lists = [queue.processing_queue_name for queue in queues]
    return int(await client.eval(SUM_LENGTHS, len(lists), *lists))


async def counts_of(client, queue) -> dict[str, int]:
    """The in-flight counts the scripts keep: processing list -> items held."""
    return {k: int(v) for k, v in (await client.hgetall(queue.keys.in_flight)).items()}


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_in_flight": 0}, ValueError),
        ({"max_in_flight": 1.5}, TypeError),
        ({"max_in_flight": True}, TypeError),
        ({"rate_limit": 10}, TypeError),
        ({"rate_limit": (10,)}, TypeError),
        ({"rate_limit": (10.0, 1)}, TypeError),
        ({"rate_limit": (10, "1")}, TypeError),
        ({"rate_limit": (0, 1)}, ValueError),
        ({"rate_limit": (10, 0)}, ValueError),
        ({"rate_limit": (10, math.inf)}, ValueError),
        ({"rate_limit": (10, math.nan)}, ValueError),
    ],
)
def test_bad_limits_are_refused(client, name, options, error):
    """A bad limit is refused when the structure is made, with the option's name."""
    with pytest.raises(error, match=r"max_in_flight|rate_limit"):
        Queue(name, client, **options)


@pytest.mark.parametrize("kind", KINDS)
async def test_cap_counts_held_items_through_ack_and_reject(client, name, kind):
    """A get takes only the room the cap leaves; acks and rejects (delayed too) free it."""
    a, b = KINDS[kind](name, client, max_in_flight=5), KINDS[kind](name, client, max_in_flight=5)
    await a.add_items(items_named(20))
    first = await a.get_items(3)
    assert len(first) == 3
    assert len(await b.get_items(10)) == 2  # the cap is over both consumers
    assert await a.get_items(10) == []
    assert await b.get_items(1) == []
    assert await held_now(client, [a, b]) == 5
    assert await counts_of(client, a) == {a.processing_queue_name: 3, b.processing_queue_name: 2}
    await a.ack_items(first[:2])
    assert len(await b.get_items(10)) == 2
    assert await b.get_items(10) == []
    await a.reject_item(first[2])
    assert len(await b.get_items(10)) == 1
    taken = await a.get_items(1) or await b.get_items(1)
    assert taken == []
    held_by_b = await client.lrange(b.processing_queue_name, 0, -1)
    await b.reject_items(held_by_b[:2], delay=30)
    assert len(await a.get_items(10)) == 2
    assert await held_now(client, [a, b]) == 5
    counts = await counts_of(client, a)
    assert counts == {
        a.processing_queue_name: await client.llen(a.processing_queue_name),
        b.processing_queue_name: await client.llen(b.processing_queue_name),
    }
    assert sum(counts.values()) == 5


@pytest.mark.parametrize("kind", KINDS)
async def test_recovery_frees_the_room_of_a_dead_consumer(client, name, kind):
    """A consumer that died holds its room until recovery gives its items back."""
    dead, alive = (
        KINDS[kind](name, client, max_in_flight=4),
        KINDS[kind](name, client, max_in_flight=4),
    )
    await dead.add_items(items_named(10))
    assert len(await dead.get_items(4)) == 4
    assert await alive.get_items(4) == []
    await age_lease(dead, 100)
    assert await alive.re_enqueue_timeout_items(50) == 4
    assert await counts_of(client, alive) == {}
    assert len(await alive.get_items(10)) == 4
    await alive.release()
    assert await counts_of(client, alive) == {}
    assert len(await dead.get_items(10)) == 4  # release freed the room too
    assert await dead.drop_all_items() == 4
    assert await counts_of(client, alive) == {}


async def test_a_waiting_get_wakes_when_room_frees(client, name):
    """A get waiting at the cap returns as soon as another consumer acks, not at its wait's end."""
    holder, waiter = Queue(name, client, max_in_flight=2), Queue(name, client, max_in_flight=2)
    await holder.add_items(items_named(5))
    held = await holder.get_items(2)
    get = asyncio.ensure_future(waiter.get_items(5, wait=BOUND))
    await asyncio.sleep(0.3)
    assert not get.done()
    started = time.monotonic()
    await holder.ack_item(held[0])
    got = await asyncio.wait_for(get, BOUND)
    assert len(got) == 1
    assert time.monotonic() - started < BOUND / 2


@pytest.mark.parametrize("kind", KINDS)
async def test_a_recovery_by_an_uncapped_consumer_wakes_a_get_waiting_for_room(
    client, name, kind
):
    """A structure made without the cap (a CLI, an operator's script) that recovers a dead
    consumer's items wakes the gets waiting at the cap at once."""
    dead = KINDS[kind](name, client, max_in_flight=2)
    waiter = KINDS[kind](name, client, max_in_flight=2)
    await dead.add_items(items_named(5))
    assert len(await dead.get_items(2)) == 2
    await age_lease(dead, 100)
    get = asyncio.ensure_future(waiter.get_items(5, wait=BOUND))
    await asyncio.sleep(0.3)
    assert not get.done()
    started = time.monotonic()
    assert await KINDS[kind](name, client).re_enqueue_timeout_items(50) == 2
    got = await asyncio.wait_for(get, BOUND)
    assert len(got) == 2
    # Woken, not back from its blocking command's end (4.5 s within a 5 s socket timeout).
    assert time.monotonic() - started < 2.0
    assert await counts_of(client, waiter) == {waiter.processing_queue_name: 2}


async def test_a_waiting_get_at_the_cap_ends_with_its_wait(client, name):
    """A waiting get that never finds room returns nothing once its wait is over."""
    holder, waiter = Queue(name, client, max_in_flight=1), Queue(name, client, max_in_flight=1)
    await holder.add_items(["a", "b"])
    assert await holder.get_items(1) == ["a"]
    started = time.monotonic()
    assert await waiter.get_items(1, wait=0.3) == []
    assert time.monotonic() - started >= 0.3 - 0.02


@pytest.mark.standalone_only
async def test_waiting_for_room_does_not_poll(client, name):
    """A get waiting at the cap, or for the rate limit, makes a handful of calls, no loop."""
    capped = Queue(name, client, max_in_flight=1)
    await capped.add_items(items_named(5))
    await capped.get_items(1)
    before = await script_calls(client)
    assert await Queue(name, client, max_in_flight=1).get_items(1, wait=1.0) == []
    assert await script_calls(client) - before <= 4
    limited = Queue(name + "-rate", client, rate_limit=(1, 0.5))
    await limited.add_items(items_named(3))
    assert len(await limited.get_items(1)) == 1
    before = await script_calls(client)
    started = time.monotonic()
    assert len(await limited.get_items(1, wait=BOUND)) == 1
    assert time.monotonic() - started <= 0.5 + 0.25
    assert await script_calls(client) - before <= 3


async def script_calls(client) -> int:
    stats = await client.info("commandstats")
    return sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("evalsha", "blpop"))


@pytest.mark.parametrize("kind", KINDS)
async def test_many_consumers_never_exceed_the_cap(client, name, kind):
    """Twenty consumers in one process never hold more than the cap, and lose nothing."""
    cap, total = 5, 150
    queues = [KINDS[kind](name, client, max_in_flight=cap) for _ in range(20)]
    await queues[0].add_items(items_named(total))
    done: Counter = Counter()
    held, most, sampled = 0, 0, []

    async def consume(queue) -> None:
        nonlocal held, most
        while sum(done.values()) < total:
            items = await queue.get_items(3, wait=0.2)
            held += len(items)
            most = max(most, held)
            await asyncio.sleep(0.005)
            held -= len(items)
            done.update(items)
            await queue.ack_items(items)

    async def sample() -> None:
        while sum(done.values()) < total:
            sampled.append(await held_now(client, queues))

    await asyncio.wait_for(asyncio.gather(sample(), *(consume(q) for q in queues)), BOUND * 2)
    assert done == Counter(items_named(total))
    assert 2 <= most <= cap
    assert max(sampled) <= cap
    assert await counts_of(client, queues[0]) == {}


@pytest.mark.parametrize("kind", KINDS)
async def test_the_rate_limit_holds_over_every_consumer(client, name, kind):
    """Over many consumers, no window of the limit's span hands out more than its count."""
    per, span, total = 20, 0.25, 70
    queues = [KINDS[kind](name, client, rate_limit=(per, span)) for _ in range(8)]
    await queues[0].add_items(items_named(total))
    gets: list[tuple[float, float, int]] = []  # sent, replied, items

    async def consume(queue) -> None:
        while sum(n for _, _, n in gets) < total:
            sent = time.monotonic()
            items = await queue.get_items(4, wait=0.5)
            gets.append((sent, time.monotonic(), len(items)))
            await queue.ack_items(items)

    await asyncio.wait_for(asyncio.gather(*(consume(q) for q in queues)), BOUND)
    taken = [(sent, replied, n) for sent, replied, n in gets if n]
    assert sum(n for _, _, n in taken) == total
    for sent, _, _ in taken:  # gets sent at or after this one and replied within the span
        surely_within = [n for s, r, n in taken if s >= sent and r < sent + span]
        assert sum(surely_within) <= per
    first, last = min(s for s, _, _ in taken), max(r for _, r, _ in taken)
    assert total <= per * (math.floor((last - first) / span) + 1)


async def test_rate_limited_get_takes_what_the_window_leaves(client, name):
    """A get takes at most what is left of the window, none once it is used up."""
    a, b = Queue(name, client, rate_limit=(5, 60)), Queue(name, client, rate_limit=(5, 60))
    await a.add_items(items_named(10))
    first = Queue(name + "-first", client, rate_limit=(5, 60))
    await first.add_items(items_named(10))
    assert len(await first.get_items(10)) == 5  # the first get of all, too
    assert await first.get_items(10) == []
    assert len(await a.get_items(3)) == 3
    assert len(await b.get_items(10)) == 2
    assert await a.get_items(1) == []
    assert await b.get_items(1, wait=0.2) == []
    assert await a.get_count() == 5


async def test_limits_hold_per_shard(client, name):
    """A ShardedQueue's limits hold on each shard: its shards hand out a cap each."""
    queue = ShardedQueue(name, client, shards=2, max_in_flight=2)
    other = ShardedQueue(name, client, shards=2, max_in_flight=2)
    assert queue.max_in_flight == 2
    await queue.add_items(items_named(10))
    got = await queue.get_items(10)
    assert len(got) == 4
    assert await other.get_items(10) == []
    await queue.ack_items(got[:1])
    assert len(await other.get_items(10)) == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_consumer_with_limits_loses_nothing(client, name, kind):
    """A Consumer on a capped, rate-limited queue handles each item once, within the cap."""
    cap, total = 4, 60
    queue = KINDS[kind](name, client, max_in_flight=cap, rate_limit=(200, 0.5))
    await queue.add_items(items_named(total))
    handled: Counter = Counter()
    running, most, sampled = 0, 0, []
    peers = [KINDS[kind](name, client, max_in_flight=cap, rate_limit=(200, 0.5)) for _ in range(2)]

    async def handler(item) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        handled[item] += 1
        sampled.append(await held_now(client, [queue, *peers]))

    consumers = [
        Consumer(q, handler, concurrency=3, batch_size=10, wait=0.2) for q in [queue, *peers]
    ]
    runs = [asyncio.ensure_future(c.run(handle_signals=False)) for c in consumers]
    try:
        await until(lambda: sum(handled.values()) >= total, "every item handled")
    finally:
        for consumer in consumers:
            consumer.stop()
        await asyncio.wait_for(asyncio.gather(*runs), BOUND)
    assert handled == Counter(items_named(total))
    assert most <= cap
    assert max(sampled) <= cap
    assert await held_now(client, [queue, *peers]) == 0
    assert await counts_of(client, queue) == {}
    assert sum(c.stats.acked for c in consumers) == total


@pytest.mark.standalone_only
async def test_consumers_in_processes_never_exceed_the_cap(client, name, redis_server):
    """Consumers in two processes, five tasks each, hold at most the cap and lose nothing."""
    cap, total = 4, 120
    await Queue(name, client).add_items(items_named(total))
    await client.set(f"{name}-end", 1)
    async with Fleet("limited_consumer.py", redis_server.url, name, str(cap), "5") as fleet:
        await fleet.start(2)
        lists = [key for keys in fleet.lists.values() for key in keys]
        sampled = []
        processes = asyncio.gather(*(p.wait() for p in fleet.live.values()))
        await client.rpush(f"{name}-go", 1, 1)  # one token per process
        while not processes.done():
            sampled.append(int(await client.eval(SUM_LENGTHS, len(lists), *lists)))
        assert await asyncio.wait_for(processes, BOUND) == [0, 0]
    assert Counter(await client.lrange(f"{name}-done", 0, -1)) == Counter(items_named(total))
    assert 1 <= max(sampled) <= cap
    assert await client.hgetall(f"{name}-in-flight") == {}


@pytest.mark.standalone_only
async def test_a_killed_consumer_holds_its_room_until_recovered(client, name, redis_server):
    """A consumer killed holding the cap's room keeps it until recovery gives its items back."""
    cap = 3
    survivor = Queue(name, client, max_in_flight=cap)
    await survivor.add_items(items_named(10))
    async with Fleet(
        "limited_consumer.py", redis_server.url, name, str(cap), "1", "--hold"
    ) as fleet:
        await fleet.start(1)
        [victim] = fleet.live
        process = fleet.live[victim]
        line = await asyncio.wait_for(process.stdout.readline(), BOUND)
        assert line.decode().split() == ["HOLDING", str(cap)]
        assert await survivor.get_items(cap) == []
        await fleet.kill(victim)
    assert await survivor.get_items(cap, wait=0.2) == []
    now = (await client.time())[0]
    await client.hset(survivor.keys.timeouts, victim, now - 100)
    assert await survivor.re_enqueue_timeout_items(50) == cap
    assert len(await survivor.get_items(10)) == cap


async def test_the_window_keeps_microseconds_and_never_goes_back(client, name):
    """The window's times are exact to the µs, and a server clock that went back (a get
    recorded later than now) does not reopen it: the window counts from its newest get."""
    queue = Queue(name, client, rate_limit=(5, 1.0))
    await queue.add_items(items_named(6))
    later = 4102444800123456  # µs, in 2100: 16 digits, more than Lua's 14-digit numbers keep
    window = {"00000000000000004": later - 999_990, "00000000000000005": later}
    await client.zadd(queue.keys.rate, window)
    assert await queue.get_items(1) == []  # the five items are 10 µs inside the window
    await client.zadd(queue.keys.rate, {"00000000000000004": later - 1_000_000})
    assert len(await queue.get_items(6)) == 4  # the get of four left it: room for four
    assert await client.zrange(queue.keys.rate, 0, -1, withscores=True) == [
        ("00000000000000004", later - 1_000_000),  # kept: the count before the window
        ("00000000000000005", later),
        ("00000000000000009", later),
    ]
