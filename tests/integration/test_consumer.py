"""Consumer: handles every item once, within its concurrency, acks, rejects, recovers, stops.

Every test counts every item; each wait is bounded. The SIGTERM test runs
``consumer_runtime.py`` in a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections import Counter

import pytest
import redis.asyncio

from aiopyrq import Consumer, Pool, Queue, UniqueQueue
from tests.helpers import PROCS, items_named, until

pytestmark = pytest.mark.redis

KINDS = {"queue": Queue, "unique": UniqueQueue, "pool": Pool}
QUEUES = {"queue": Queue, "unique": UniqueQueue}
RUNTIMES = {"async": "consumer_runtime.py", "sync": "sync_consumer_runtime.py"}
"""The Consumer processes: aiopyrq's, and aiopyrq.sync's (handlers in threads)."""
BOUND = 10  # seconds: the bound of any wait


@contextlib.asynccontextmanager
async def running(*consumers: Consumer):
    """Run the consumers in tasks; stop them on the way out and wait for run() to return."""
    tasks = [asyncio.create_task(consumer.run(handle_signals=False)) for consumer in consumers]
    try:
        yield tasks
    finally:
        for consumer in consumers:
            consumer.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), BOUND)


async def assert_nothing_held(client, name: str) -> None:
    """No consumer holds an item: no processing list, no lease left."""
    assert await client.keys(f"{name}-processing-*") == []
    assert await client.exists(f"{name}-timeouts") == 0


@pytest.mark.parametrize("kind", KINDS)
async def test_every_item_is_handled_once(client, name, kind):
    """With nothing failing, each item reaches the handler exactly once and is acked."""
    structure = KINDS[kind](name, client)
    items = items_named(60)
    await structure.add_items(items)
    handled = []

    async def handler(item):
        await asyncio.sleep(0.001)
        handled.append(item)

    consumer = Consumer(structure, handler, batch_size=7, concurrency=4, wait=0.2)
    async with running(consumer):
        await until(lambda: len(handled) >= len(items), what="every item handled")
        await asyncio.sleep(0.1)  # time for a second delivery, if there were one

    assert Counter(handled) == Counter(items)
    assert (consumer.stats.delivered, consumer.stats.acked, consumer.stats.failed) == (60, 60, 0)
    if kind == "pool":
        scores = dict(await client.zrange(name, 0, -1, withscores=True))
        assert set(scores) == set(items)
        assert all(score == int(score) for score in scores.values())  # acked, none in flight
        assert await structure.get_count_to_process() == 0
    else:
        assert await structure.get_count() == 0
        await assert_nothing_held(client, name)


@pytest.mark.parametrize("kind", KINDS)
async def test_concurrency_is_honoured(client, name, kind):
    """No more than concurrency handlers run at once, and that many do."""
    structure = KINDS[kind](name, client)
    items = items_named(15)
    await structure.add_items(items)
    handled, current, peak = [], 0, 0

    async def handler(item):
        nonlocal current, peak
        current += 1
        peak = max(peak, current)
        await asyncio.sleep(0.05)
        current -= 1
        handled.append(item)

    consumer = Consumer(structure, handler, batch_size=10, concurrency=3, wait=0.2)
    async with running(consumer):
        await until(lambda: len(handled) == len(items), what="every item handled")
    assert peak == 3
    assert Counter(handled) == Counter(items)


@pytest.mark.parametrize("kind", KINDS)
async def test_batch_handler_gets_lists_of_up_to_batch_size(client, name, kind):
    """batch=True hands lists of at most batch_size items; FIFO order for queues."""
    structure = KINDS[kind](name, client)
    items = items_named(10)
    await structure.add_items(items)
    batches = []

    async def handler(batch):
        batches.append(batch)

    consumer = Consumer(structure, handler, batch=True, batch_size=4, wait=0.2)
    async with running(consumer):
        await until(lambda: sum(map(len, batches)) == len(items), what="every item handled")
    assert [len(batch) for batch in batches] == [4, 4, 2]
    handled = [item for batch in batches for item in batch]
    if kind == "pool":
        assert sorted(handled) == sorted(items)
    else:
        assert handled == items
        await assert_nothing_held(client, name)
    assert consumer.stats.acked == 10


async def test_batch_concurrency_counts_batches(client, name):
    """With batch=True, concurrency bounds the batches handled at once."""
    queue = Queue(name, client)
    await queue.add_items(items_named(12))
    handled, current, peak = [], 0, 0

    async def handler(batch):
        nonlocal current, peak
        current += 1
        peak = max(peak, current)
        await asyncio.sleep(0.05)
        current -= 1
        handled.extend(batch)

    consumer = Consumer(queue, handler, batch=True, batch_size=2, concurrency=2, wait=0.2)
    async with running(consumer):
        await until(lambda: len(handled) == 12, what="every item handled")
    assert peak == 2
    assert sorted(handled) == sorted(items_named(12))


@pytest.mark.parametrize("kind", QUEUES)
async def test_failed_items_are_rejected_and_redelivered(client, name, kind):
    """An item whose handler raises goes back to the queue and is delivered again."""
    queue = QUEUES[kind](name, client)
    items = items_named(20)
    flaky = set(items[::5])
    await queue.add_items(items)
    attempts, handled = Counter(), []

    async def handler(item):
        attempts[item] += 1
        if item in flaky and attempts[item] == 1:
            raise RuntimeError(item)
        handled.append(item)

    consumer = Consumer(queue, handler, batch_size=5, concurrency=2, wait=0.2)
    async with running(consumer):
        await until(lambda: len(handled) == len(items), what="every item handled")
    assert Counter(handled) == Counter(items)
    assert attempts == Counter({item: 2 if item in flaky else 1 for item in items})
    assert consumer.stats.failed == len(flaky)
    assert consumer.stats.acked == len(items)
    await assert_nothing_held(client, name)


@pytest.mark.parametrize("kind", QUEUES)
async def test_poison_item_stops_after_max_deliveries(client, name, kind):
    """A handler that always fails on an item: tried max_deliveries times, then dead-lettered."""
    queue = QUEUES[kind](name, client, max_deliveries=3)
    items = items_named(10)
    await queue.add_items(["poison", *items])
    attempts, handled = Counter(), []

    async def handler(item):
        attempts[item] += 1
        if item == "poison":
            raise RuntimeError(item)
        handled.append(item)

    consumer = Consumer(queue, handler, batch_size=3, wait=0.2, retry_delay=0)
    async with running(consumer):
        await until(queue.get_dead_count, what="the poison item dead")
        await until(lambda: len(handled) == len(items), what="every other item handled")
        await asyncio.sleep(0.2)  # time for a fourth delivery, if there were one
    assert attempts["poison"] == 3
    assert await queue.get_dead_items() == ["poison"]
    [dead] = await queue.get_dead_items(details=True)
    assert (dead.reason, dead.deliveries) == ("RuntimeError: poison", 3)
    assert dead.consumer == queue.client_id
    assert Counter(handled) == Counter(items)
    assert consumer.stats.failed == 3
    assert await queue.get_count() == 0
    assert await client.exists(f"{name}-deliveries") == 0
    await assert_nothing_held(client, name)


async def test_pool_item_that_fails_comes_back_after_ack_ttl(client, name):
    """Pool: a failed item stays in flight, unacked, and is handed out again after ack_ttl."""
    pool = Pool(name, client, ack_ttl=1)
    await pool.add_items(["bad", "good"])
    attempts = Counter()

    async def handler(item):
        attempts[item] += 1
        if item == "bad":
            raise RuntimeError(item)

    consumer = Consumer(pool, handler, concurrency=2, wait=0.2)
    async with running(consumer):
        await until(lambda: attempts["bad"] == 1 and attempts["good"] == 1)
        bad_score = await client.zscore(name, "bad")
        good_score = await client.zscore(name, "good")
        await until(lambda: attempts["bad"] == 2, timeout=5, what="a second delivery")
    assert bad_score % 1 == pytest.approx(0.1)  # in flight: not acked
    assert good_score == int(good_score)  # acked
    assert attempts["good"] == 1
    assert consumer.stats.failed >= 2


@pytest.mark.parametrize("kind", QUEUES)
async def test_stop_lets_running_handlers_finish(client, name, kind):
    """stop(): running handlers finish within the grace period and their items are acked."""
    queue = QUEUES[kind](name, client)
    items = items_named(10)
    await queue.add_items(items)
    started, handled = [], []

    async def handler(item):
        started.append(item)
        await asyncio.sleep(0.3)
        handled.append(item)

    consumer = Consumer(queue, handler, concurrency=3, wait=0.2, grace_period=5)
    run = asyncio.create_task(consumer.run(handle_signals=False))
    try:
        await until(lambda: len(started) == 3, what="three handlers running")
        consumer.stop()
        await asyncio.wait_for(asyncio.shield(run), BOUND)
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    assert handled == started == items[:3]
    assert consumer.stats.acked == 3
    assert await client.lrange(name, 0, -1) == list(reversed(items[3:]))
    await assert_nothing_held(client, name)


@pytest.mark.parametrize("kind", QUEUES)
async def test_stop_cancels_handlers_slower_than_the_grace_period(client, name, kind):
    """stop(): handlers still running after grace_period are cancelled, their items requeued."""
    queue = QUEUES[kind](name, client, max_deliveries=3)
    items = items_named(5)
    await queue.add_items(items)
    started, handled = [], []

    async def handler(item):
        started.append(item)
        await asyncio.sleep(BOUND * 3)
        handled.append(item)

    consumer = Consumer(queue, handler, concurrency=2, wait=0.2, grace_period=0.3)
    run = asyncio.create_task(consumer.run(handle_signals=False))
    try:
        await until(lambda: len(started) == 2, what="two handlers running")
        consumer.stop()
        await asyncio.wait_for(asyncio.shield(run), 0.3 + 2)  # the grace period, and some
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    assert started == items[:2]
    assert handled == []
    assert consumer.stats.acked == 0
    await assert_nothing_held(client, name)
    assert await client.exists(f"{name}-deliveries", f"{name}-dead") == 0  # not counted
    assert await QUEUES[kind](name, client).get_items(10) == items  # back at the front


@pytest.mark.parametrize("lease", ["aged", "fresh"])
@pytest.mark.parametrize("kind", QUEUES)
async def test_reaper_recovers_a_dead_consumers_items(client, name, kind, lease):
    """A live Consumer's reaper hands on a dead consumer's items within lease + sweep."""
    dead = QUEUES[kind](name, client)
    items = items_named(6)
    await dead.add_items(items)
    held = await dead.get_items(4)  # and never acked: it died
    if lease == "aged":
        now, _ = await client.time()
        await client.hset(dead.timeouts_hash_name, dead.processing_queue_name, now - 3600)
    handled = []

    async def handler(item):
        handled.append(item)

    consumer = Consumer(
        QUEUES[kind](name, client), handler, wait=0.2, lease_timeout=1, sweep_interval=0.5
    )
    async with running(consumer):
        # A lease is a whole second: it is older than 1 s at most 2 s after the last get.
        await until(lambda: len(handled) == len(items), timeout=2 + 0.5 + 2)
    assert Counter(handled) == Counter(items)
    assert consumer.stats.recovered == len(held)
    await assert_nothing_held(client, name)


@pytest.mark.parametrize("kind", QUEUES)
async def test_heartbeat_keeps_a_long_handler_from_recovery(redis_server, client, name, kind):
    """A handler longer than lease_timeout keeps its item: no other reaper re-enqueues it."""
    other_client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
    calls = []

    def consumer(label: str, seconds: float, redis_client) -> Consumer:
        async def handler(item):
            calls.append((label, item))
            await asyncio.sleep(seconds)

        return Consumer(
            QUEUES[kind](name, redis_client),
            handler,
            wait=0.2,
            lease_timeout=1,
            sweep_interval=0.5,
        )

    slow, other = consumer("slow", 3.0, client), consumer("other", 0, other_client)
    await QUEUES[kind](name, client).add_item("long")
    try:
        async with running(slow):
            await until(lambda: calls, what="the slow handler started")
            async with running(other):
                await until(lambda: slow.stats.acked == 1, what="the slow handler done")
    finally:
        await other_client.aclose()
    assert calls == [("slow", "long")]
    assert slow.stats.recovered == other.stats.recovered == 0
    assert await client.llen(name) == 0
    await assert_nothing_held(client, name)


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_sigterm_shuts_a_consumer_process_down_gracefully(
    redis_server, client, name, runtime
):
    """SIGTERM: the process exits 0; each item is acked (recorded) or back in the queue."""
    items = items_named(60)
    await Queue(name, client).add_items(items)
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(PROCS / RUNTIMES[runtime]), redis_server.url, name,
        "--concurrency", "4", "--batch-size", "4", "--handle-seconds", "0.2",
        "--wait", "0.5", "--grace-period", "5",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        ready = await asyncio.wait_for(process.stdout.readline(), BOUND)
        assert ready.split()[0] == b"READY"
        await until(lambda: client.llen(f"{name}-done"), what="a first item done")
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), BOUND) == 0
        stopped = (await process.stdout.read()).split()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    done = await client.lrange(f"{name}-done", 0, -1)
    waiting = await client.lrange(name, 0, -1)
    print(f"done={len(done)} waiting={len(waiting)} stats={stopped}")  # noqa: T201
    assert stopped[0] == b"STOPPED"
    assert int(stopped[2]) == len(done)  # acked: every item it recorded
    assert 0 < len(done) < len(items)
    assert Counter(done + waiting) == Counter(items)
    await assert_nothing_held(client, name)


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_sigterm_requeues_what_handlers_cannot_finish(redis_server, client, name, runtime):
    """SIGTERM with handlers slower than the grace period: exit 0, every item back in line."""
    items = items_named(8)
    await Queue(name, client).add_items(items)
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(PROCS / RUNTIMES[runtime]), redis_server.url, name,
        "--concurrency", "4", "--handle-seconds", "20", "--grace-period", "0.2",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await asyncio.wait_for(process.stdout.readline(), BOUND)
        await until(lambda: held_by_some(client, name), what="items held")
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 0.2 + 3) == 0  # the grace period, and some
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert await client.exists(f"{name}-done") == 0
    assert await client.lrange(name, 0, -1) == list(reversed(items))  # the same line as before
    await assert_nothing_held(client, name)


async def held_by_some(client, name: str) -> bool:
    """Whether some consumer holds items."""
    return bool(await client.keys(f"{name}-processing-*"))
