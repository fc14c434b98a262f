"""Failures and concurrency: killed consumers, many consumers, a server stopped, killed or frozen.

Every test counts every item: each one added is found processed (in ``NAME-done``) or
still waiting, and nothing is left in a processing list.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING

import pytest
import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from aiopyrq import Queue, UniqueQueue
from tests.harness import RedisServer
from tests.helpers import PROCS, items_named

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Iterator

pytestmark = [pytest.mark.redis, pytest.mark.slow]

CONSUMER = PROCS / "consumer.py"
KINDS = {"queue": Queue, "unique": UniqueQueue}
REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
WAIT = 30  # seconds: the bound of any wait for a consumer
FAIL_WITHIN = 5  # seconds: a failing operation of a 1 s timeout client must fail sooner


@contextlib.asynccontextmanager
async def consumer(
    url: str, name: str, kind: str, batch: int, *options: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run consumer.py with this interpreter; kill it on the way out if it still runs."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(CONSUMER), url, name, kind, str(batch), *options,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield process
    finally:
        kill(process)
        await process.wait()


def kill(process: asyncio.subprocess.Process) -> bool:
    """SIGKILL the process if it still runs; return whether it did."""
    if process.returncode is not None:
        return False
    try:
        process.kill()
    except ProcessLookupError:
        return False
    return True


async def read_line(process: asyncio.subprocess.Process, word: str) -> list[str]:
    """Read the consumer's output up to its first line starting with word; return its words."""
    assert process.stdout is not None
    for _ in range(5):
        line = await asyncio.wait_for(process.stdout.readline(), WAIT)
        words = line.decode().split()
        assert words, f"the consumer ended without printing {word}"
        if words[0] == word:
            return words
    pytest.fail(f"the consumer did not print {word}")


async def finish(process: asyncio.subprocess.Process) -> int:
    """Wait for the consumer to drain the queue and exit; return how many items it acked."""
    words = await read_line(process, "DONE")
    assert await asyncio.wait_for(process.wait(), WAIT) == 0
    return int(words[1])


async def consume(queue: Queue, batch: int) -> int:
    """Do in this process what consumer.py does: take, record, ack, until drained."""
    deadline = time.monotonic() + WAIT
    acked = 0
    while time.monotonic() < deadline:
        ended = await queue.redis.exists(f"{queue.name}-end")
        items = await queue.get_items(batch)
        if not items:
            if ended:
                return acked
            await asyncio.sleep(0.005)
            continue
        await queue.redis.rpush(f"{queue.name}-done", *items)
        await queue.ack_items(items)
        acked += len(items)
    pytest.fail("a consumer task did not drain the queue in time")


async def assert_nothing_left(client: redis.asyncio.Redis, queue: Queue) -> None:
    """The queue is empty and no consumer holds anything."""
    assert await queue.get_count() == 0
    assert await client.keys(f"{queue.name}-processing-*") == []
    assert await client.exists(queue.timeouts_hash_name) == 0
    if isinstance(queue, UniqueQueue):
        assert await client.exists(queue.set_name) == 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("after_done", [False, True], ids=["held", "held-after-done"])
async def test_killed_consumer_batch_is_recovered(redis_server, client, name, kind, after_done):
    """A consumer SIGKILLed holding a batch loses none of it: recovery hands it on."""
    queue = KINDS[kind](name, client)
    items = items_named(100)
    await queue.add_items(items)
    await client.set(f"{name}-end", 1)
    options = ["--hold-at", "3", *(["--hold-after-done"] if after_done else [])]
    async with consumer(redis_server.url, name, kind, 10, *options) as first:
        _, count, processing = await read_line(first, "HOLDING")
        kill(first)
        await first.wait()
    held = await client.lrange(processing, 0, -1)
    assert int(count) == 10
    assert sorted(held) == sorted(items[20:30])
    assert await client.hkeys(queue.timeouts_hash_name) == [processing]
    assert await queue.re_enqueue_timeout_items(3600) == 0  # its lease is still young

    now, _ = await client.time()
    await client.hset(queue.timeouts_hash_name, processing, now - 3601)
    assert await queue.re_enqueue_timeout_items(3600) == 10
    assert await client.exists(processing) == 0
    assert await queue.get_count() == 80
    async with consumer(redis_server.url, name, kind, 10) as second:
        assert await finish(second) == 80

    done = Counter(await client.lrange(f"{name}-done", 0, -1))
    assert set(done) == set(items)
    twice = {item for item, times in done.items() if times > 1}
    assert max(done.values()) <= 2
    assert twice == (set(held) if after_done else set())
    await assert_nothing_left(client, queue)


@pytest.mark.parametrize("kind", KINDS)
async def test_consumers_killed_at_random_points_lose_nothing(redis_server, client, name, kind):
    """Consumers SIGKILLed at random points, each followed by a recovery, lose no item."""
    seed = random.randrange(2**32)  # noqa: S311 - not for security
    rng = random.Random(seed)  # noqa: S311
    rounds, batch = 5, 10
    queue = KINDS[kind](name, client)
    items = items_named(2000)
    await queue.add_items(items)
    await client.set(f"{name}-end", 1)
    kills = recovered = 0
    for _ in range(rounds):
        async with consumer(
            redis_server.url, name, kind, batch, "--step-delay", "0.005"
        ) as process:
            await read_line(process, "READY")
            await asyncio.sleep(rng.uniform(0, 0.3))
            kills += kill(process)
            await process.wait()
        recovered += await queue.re_enqueue_all_items()  # no consumer is alive now
    async with consumer(redis_server.url, name, kind, batch) as last:
        await finish(last)

    done = await client.lrange(f"{name}-done", 0, -1)
    lost = len(set(items) - set(done))
    redelivered = len(done) - len(set(done))
    print(  # noqa: T201 - for the log
        f"seed={seed} kills={kills} recovered={recovered} "
        f"delivered={len(done)} redelivered={redelivered} lost={lost}"
    )
    assert lost == 0
    assert set(done) == set(items)
    assert redelivered <= kills * batch  # a kill repeats at most the batch it held
    await assert_nothing_left(client, queue)


@pytest.mark.parametrize("kind", KINDS)
async def test_concurrent_consumers_get_each_item_exactly_once(redis_server, client, name, kind):
    """Eight consumer tasks and two consumer processes fed by a producer get each item once."""
    items = items_named(5000)

    async def produce() -> None:
        producer = KINDS[kind](name, client)
        for start in range(0, len(items), 100):
            await producer.add_items(items[start : start + 100])
            await asyncio.sleep(0.002)
        await client.set(f"{name}-end", 1)

    url = redis_server.url
    async with consumer(url, name, kind, 7) as one, consumer(url, name, kind, 7) as two:
        await read_line(one, "READY")
        await read_line(two, "READY")
        tasks = [consume(KINDS[kind](name, client), 7) for _ in range(8)]
        _, *by_task = await asyncio.gather(produce(), *tasks)
        by_process = [await finish(one), await finish(two)]

    done = await client.lrange(f"{name}-done", 0, -1)
    assert Counter(done) == Counter(items)
    assert sum(by_task) + sum(by_process) == len(items)
    await assert_nothing_left(client, KINDS[kind](name, client))


@pytest.fixture
def aof_server() -> Iterator[RedisServer]:
    """A server of the test's own, its append-only file fsynced at every write."""
    with RedisServer(appendonly=True) as server:
        yield server


@pytest.fixture
async def impatient(aof_server) -> AsyncIterator[redis.asyncio.Redis]:
    """A client of aof_server with 1 s timeouts and no retry: failures reach the caller."""
    client = redis.asyncio.Redis.from_url(
        aof_server.url,
        decode_responses=True,
        socket_timeout=1,
        socket_connect_timeout=1,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        yield client
    finally:
        await client.aclose()


async def assert_fails_fast(operation: Awaitable[object]) -> None:
    """The operation raises redis-py's own ConnectionError or TimeoutError, and soon."""
    start = time.monotonic()
    with pytest.raises(REDIS_ERRORS) as info:
        await asyncio.wait_for(operation, 2 * FAIL_WITHIN)
    assert time.monotonic() - start < FAIL_WITHIN
    assert type(info.value).__module__ == "redis.exceptions"


@pytest.mark.parametrize("kind", KINDS)
async def test_queue_works_again_after_server_restart(aof_server, impatient, name, kind):
    """Stopped, the server fails operations; restarted, the same Queue has every item."""
    queue = KINDS[kind](name, impatient)
    items = items_named(100)
    for start in range(0, len(items), 10):
        await queue.add_items(items[start : start + 10])
    taken = await queue.get_items(30)
    await queue.ack_items(taken[:20])

    aof_server.stop()
    await assert_fails_fast(queue.add_items(["late"]))  # on the connection the stop closed
    await assert_fails_fast(queue.get_count())  # on a new connection, refused
    aof_server.restart()

    assert await queue.get_count() == 70
    assert sorted(await impatient.lrange(queue.processing_queue_name, 0, -1)) == sorted(taken[20:])
    await queue.ack_items(taken[20:])
    rest = await queue.get_items(100)
    assert rest == items[30:]
    await queue.ack_items(rest)
    await assert_nothing_left(impatient, queue)


@pytest.mark.parametrize("kind", KINDS)
async def test_writes_acknowledged_before_a_server_crash_survive_it(
    aof_server, impatient, name, kind
):
    """Each add that returned before a SIGKILL of the server is there after its restart."""
    queue = KINDS[kind](name, impatient)
    written: list[list[str]] = []
    failed: list[list[str]] = []

    async def produce() -> None:
        for call in range(100_000):
            batch = [f"item-{call}-{i}" for i in range(10)]
            try:
                await queue.add_items(batch)
            except REDIS_ERRORS:
                failed.append(batch)
                return
            written.append(batch)

    producer = asyncio.create_task(produce())
    try:
        for _ in range(2000):
            if len(written) >= 20 or producer.done():
                break
            await asyncio.sleep(0.005)
        await asyncio.to_thread(aof_server.kill)
        await asyncio.wait_for(producer, WAIT)
    finally:
        producer.cancel()
    aof_server.restart()

    present = Counter(await impatient.lrange(name, 0, -1))
    acknowledged = {item for batch in written for item in batch}
    maybe = {item for batch in failed for item in batch}
    print(f"acknowledged={len(acknowledged)} failed={len(maybe)} present={len(present)}")  # noqa: T201
    assert len(written) >= 20
    assert acknowledged <= set(present)
    assert set(present) <= acknowledged | maybe
    assert max(present.values()) == 1
    if isinstance(queue, UniqueQueue):
        assert await impatient.smembers(queue.set_name) == set(present)
    taken = await queue.get_items(len(present) + 1)  # the same object, reconnected
    assert Counter(taken) == present
    await queue.ack_items(taken)
    await assert_nothing_left(impatient, queue)


@pytest.mark.parametrize("kind", KINDS)
async def test_frozen_server_times_out_and_loses_nothing(aof_server, impatient, name, kind):
    """A frozen server makes an operation time out; once resumed, no item is lost."""
    queue = KINDS[kind](name, impatient)
    items = items_named(50)
    await queue.add_items(items)
    taken = await queue.get_items(10)
    await queue.ack_items(taken[:5])

    aof_server.pause()
    try:
        await assert_fails_fast(queue.add_items(["late"]))
    finally:
        aof_server.resume()

    waiting = Counter(await impatient.lrange(name, 0, -1))
    assert waiting.pop("late", 0) <= 1  # sent before the timeout: the server may run it
    assert waiting == Counter(items[10:])
    assert sorted(await impatient.lrange(queue.processing_queue_name, 0, -1)) == sorted(taken[5:])
    await queue.ack_items(taken[5:])
    assert await queue.get_items(1) == [items[10]]
