"""The sync Consumer: every item handled once, in threads, acked per batch, recovered, stopped.

Every test counts every item; each wait is bounded; each runs on standalone, Cluster and
Sentinel. The SIGTERM and SIGKILL tests run ``sync_consumer_runtime.py`` beside the asyncio
one (test_consumer.py, test_consumer_failures.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter

import pytest
import redis.asyncio

import aiopyrq
from aiopyrq.sync import Consumer, Pool, Queue, ShardedQueue, UniqueQueue
from tests.helpers import items_named

pytestmark = [pytest.mark.redis, pytest.mark.all_deployments]


def sharded(name, client):
    """A ShardedQueue of three shards."""
    return ShardedQueue(name, client, shards=3)


KINDS = {"queue": Queue, "unique": UniqueQueue, "pool": Pool, "sharded": sharded}
QUEUES = {"queue": Queue, "unique": UniqueQueue}
BOUND = 10  # seconds: the bound of any wait


def until(condition, what="the condition", timeout=BOUND):
    """Poll condition() until it is true, at most timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {timeout} s")
        time.sleep(0.02)


@contextlib.contextmanager
def running(*consumers):
    """Run the consumers in threads; stop them on the way out and wait for run() to return."""
    threads = [
        threading.Thread(target=consumer.run, kwargs={"handle_signals": False})
        for consumer in consumers
    ]
    for thread in threads:
        thread.start()
    try:
        yield threads
    finally:
        for consumer in consumers:
            consumer.stop()
        for thread in threads:
            thread.join(BOUND)
        assert not any(thread.is_alive() for thread in threads), "run() did not return"


def assert_nothing_held(client, name):
    """No consumer holds an item: no processing list, no lease left."""
    assert client.keys(f"{name}-processing-*") == []
    assert client.exists(f"{name}-timeouts") == 0


@pytest.mark.parametrize("kind", KINDS)
def test_every_item_is_handled_once(client, name, kind):
    """With nothing failing, each item reaches the handler exactly once and is acked."""
    structure = KINDS[kind](name, client)
    items = items_named(60)
    structure.add_items(items)
    handled = []

    def handler(item):
        time.sleep(0.001)
        handled.append(item)

    consumer = Consumer(structure, handler, batch_size=7, concurrency=4, wait=0.2)
    with running(consumer):
        until(lambda: consumer.stats.acked >= len(items), "every item acked")
        time.sleep(0.1)  # time for a second delivery, if there were one
    assert Counter(handled) == Counter(items)
    assert (consumer.stats.delivered, consumer.stats.acked, consumer.stats.failed) == (60, 60, 0)
    if kind == "pool":
        assert structure.get_count_to_process() == 0
    elif kind == "sharded":
        assert structure.get_count() == 0
        for shard in structure.shard_names:
            assert_nothing_held(client, shard)
    else:
        assert structure.get_count() == 0
        assert_nothing_held(client, name)


@pytest.mark.parametrize("kind", KINDS)
def test_concurrency_is_honoured(client, name, kind):
    """No more than concurrency handlers run at once (in threads), and that many do."""
    structure = KINDS[kind](name, client)
    items = items_named(15)
    structure.add_items(items)
    handled, running_now, peak = [], [], [0]
    lock = threading.Lock()

    def handler(item):
        with lock:
            running_now.append(item)
            peak[0] = max(peak[0], len(running_now))
        time.sleep(0.05)
        with lock:
            running_now.remove(item)
            handled.append(item)

    consumer = Consumer(structure, handler, batch_size=10, concurrency=3, wait=0.2)
    with running(consumer):
        until(lambda: consumer.stats.acked == len(items), "every item acked")
    assert peak[0] == 3
    assert Counter(handled) == Counter(items)


def test_acks_are_gathered(client, name):
    """The acks of finished handlers go together, one call at a time: fewer calls than items."""
    queue = Queue(name, client)
    items = items_named(60)
    queue.add_items(items)
    got_sizes, operations = [], Counter()
    get_items = queue.get_items

    def recording_get(count, wait=None):
        taken = get_items(count, wait=wait)
        if taken:
            got_sizes.append(len(taken))
        return taken

    queue.get_items = recording_get

    def spans(operation, _name):
        operations[operation] += 1
        return contextlib.nullcontext()

    consumer = Consumer(
        queue, lambda _: time.sleep(0.01), batch_size=10, concurrency=10, wait=0.2, spans=spans
    )
    with running(consumer):
        until(lambda: consumer.stats.acked == len(items), "every item acked")
    assert sum(got_sizes) == 60
    assert operations["handle"] == 60
    assert operations["ack"] < 60
    assert_nothing_held(client, name)


@pytest.mark.parametrize("kind", QUEUES)
def test_batch_handler_gets_lists_of_up_to_batch_size(client, name, kind):
    """batch=True hands lists of at most batch_size items, in FIFO order."""
    queue = QUEUES[kind](name, client)
    items = items_named(10)
    queue.add_items(items)
    batches = []
    consumer = Consumer(queue, batches.append, batch=True, batch_size=4, wait=0.2)
    with running(consumer):
        until(lambda: consumer.stats.acked == len(items), "every item acked")
    assert [len(batch) for batch in batches] == [4, 4, 2]
    assert [item for batch in batches for item in batch] == items
    assert_nothing_held(client, name)


@pytest.mark.parametrize("kind", QUEUES)
def test_failed_items_go_to_dead_letters_after_max_deliveries(client, name, kind):
    """A handler that raises rejects its item; after max_deliveries it is a dead letter."""
    queue = QUEUES[kind](name, client, max_deliveries=3)
    queue.add_items(["good", "poison"])
    calls = Counter()

    def handler(item):
        calls[item] += 1
        if item == "poison":
            msg = "cannot handle it"
            raise ValueError(msg)

    consumer = Consumer(queue, handler, wait=0.2)
    with running(consumer):
        until(lambda: consumer.stats.dead_lettered == 1, "the poison item dead-lettered")
    assert calls == Counter({"good": 1, "poison": 3})
    assert (consumer.stats.acked, consumer.stats.failed) == (1, 3)
    assert queue.get_dead_items() == ["poison"]
    [dead] = queue.get_dead_items(details=True)
    assert (dead.reason, dead.deliveries) == ("ValueError: cannot handle it", 3)
    assert dead.consumer == queue.client_id
    assert_nothing_held(client, name)


def server_ms(client, key):
    """The server's clock in unix milliseconds (on a cluster: the master of key)."""
    if hasattr(client, "get_node_from_key"):
        seconds, micros = client.time(target_nodes=client.get_node_from_key(key))
    else:
        seconds, micros = client.time()
    return seconds * 1000 + micros // 1000


@pytest.mark.parametrize("kind", QUEUES)
def test_a_failed_item_comes_back_after_the_retry_delay(client, name, kind):
    """A handler that fails twice: each retry comes no sooner than retry_delay, by the server."""
    queue = QUEUES[kind](name, client)
    queue.add_item("flaky")
    seen = []

    def handler(_item):
        seen.append(server_ms(client, queue.keys.queue))
        if len(seen) < 3:
            msg = "downstream is down"
            raise ConnectionError(msg)

    consumer = Consumer(queue, handler, wait=0.2, retry_delay=lambda deliveries: 0.4 * deliveries)
    with running(consumer):
        until(lambda: consumer.stats.acked == 1, "the item handled at its third delivery")
    assert len(seen) == 3
    assert seen[1] - seen[0] >= 400
    assert seen[2] - seen[1] >= 800
    assert (consumer.stats.failed, consumer.stats.dead_lettered) == (2, 0)
    assert_nothing_held(client, name)


@pytest.mark.parametrize("kind", QUEUES)
def test_stop_lets_running_handlers_finish(client, name, kind):
    """stop(): running handlers finish within the grace period, are acked; the rest go back."""
    queue = QUEUES[kind](name, client)
    items = items_named(10)
    queue.add_items(items)
    started, handled = [], []

    def handler(item):
        started.append(item)
        time.sleep(0.3)
        handled.append(item)

    consumer = Consumer(queue, handler, concurrency=3, wait=0.2, grace_period=5)
    with running(consumer):
        until(lambda: len(started) == 3, "three handlers running")
    assert sorted(handled) == sorted(started) == items[:3]
    assert consumer.stats.acked == 3
    assert client.lrange(name, 0, -1) == list(reversed(items[3:]))
    assert_nothing_held(client, name)


@pytest.mark.parametrize("kind", QUEUES)
def test_handlers_slower_than_the_grace_period_give_their_items_back(client, name, kind):
    """stop(): items of handlers still running after grace_period go back, uncounted."""
    queue = QUEUES[kind](name, client, max_deliveries=3)
    items = items_named(5)
    queue.add_items(items)
    started, release = [], threading.Event()

    def handler(item):
        started.append(item)
        release.wait(BOUND)

    consumer = Consumer(queue, handler, concurrency=2, wait=0.2, grace_period=0.3)
    try:
        with running(consumer):
            until(lambda: len(started) == 2, "two handlers running")
    finally:
        release.set()
    time.sleep(0.2)  # the late handlers end now: they settle nothing, their items went back
    assert sorted(started) == items[:2]
    assert consumer.stats.acked == 0
    assert client.exists(f"{name}-deliveries", f"{name}-dead") == 0  # not counted
    assert QUEUES[kind](name, client).get_items(10) == items  # back at the front


@pytest.mark.parametrize("kind", QUEUES)
def test_reaper_recovers_a_dead_consumers_items(client, name, kind):
    """A live Consumer's reaper hands on a dead consumer's items, as the asyncio one does."""
    dead = QUEUES[kind](name, client)
    items = items_named(6)
    dead.add_items(items)
    held = dead.get_items(4)  # and never acked: it died
    now, _ = client.time()
    client.hset(dead.timeouts_hash_name, dead.processing_queue_name, now - 3600)
    handled = []
    consumer = Consumer(
        QUEUES[kind](name, client), handled.append, wait=0.2, lease_timeout=1, sweep_interval=0.5
    )
    with running(consumer):
        until(lambda: consumer.stats.acked == len(items), "every item acked")
    assert Counter(handled) == Counter(items)
    assert consumer.stats.recovered == len(held)
    assert_nothing_held(client, name)


def test_heartbeat_keeps_a_long_handler_from_recovery(client, name):
    """A handler longer than lease_timeout keeps its item: another reaper leaves it alone."""
    calls = []

    def consumer(label, seconds):
        def handler(item):
            calls.append((label, item))
            time.sleep(seconds)

        return Consumer(Queue(name, client), handler, wait=0.2, lease_timeout=1, sweep_interval=0.5)

    slow, other = consumer("slow", 3.0), consumer("other", 0)
    Queue(name, client).add_item("long")
    with running(slow):
        until(lambda: calls, "the slow handler started")
        with running(other):
            until(lambda: slow.stats.acked == 1, "the slow handler done")
    assert calls == [("slow", "long")]
    assert slow.stats.recovered == other.stats.recovered == 0
    assert_nothing_held(client, name)


def test_refuses_asyncio_parts(client, name):
    """An asyncio structure or an async handler is refused: they belong to aiopyrq.Consumer."""

    async def handler(item):
        del item

    with pytest.raises(TypeError, match=r"aiopyrq\.Consumer"):
        Consumer(Queue(name, client), handler)
    asyncio_queue = aiopyrq.Queue(name, redis.asyncio.Redis())  # it never connects
    with pytest.raises(TypeError, match=r"aiopyrq\.sync structure"):
        Consumer(asyncio_queue, print)
    with pytest.raises(ValueError, match="batch_size"):
        Consumer(Queue(name, client), print, batch_size=0)


def test_signals_need_the_main_thread(client, name):
    """run() with handle_signals outside the main thread says so, and starts nothing."""
    consumer = Consumer(Queue(name, client), print, wait=0.2)
    errors = []

    def run():
        try:
            consumer.run()
        except ValueError as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(BOUND)
    assert "main thread" in str(errors[0])


def test_stop_sends_the_acks_and_gives_back_what_was_fetched_ahead(client, name):
    """stop(): the handlers that returned are acked; fetched, unstarted items go back in line."""
    queue = Queue(name, client)
    items = items_named(30)
    queue.add_items(items)
    gate, started, handled = threading.Event(), [], []

    def handler(item):
        started.append(item)
        gate.wait(BOUND)
        handled.append(item)

    consumer = Consumer(queue, handler, batch_size=10, concurrency=2, wait=0.2)
    with running(consumer):
        until(lambda: len(started) == 2, "two handlers running")
        until(lambda: client.llen(queue.processing_queue_name) == 10, "a batch fetched ahead")
        time.sleep(0.1)  # time to fetch more, if it would (it must not)
        assert client.llen(queue.processing_queue_name) == 10  # 2 running + 8 ahead
        assert client.llen(name) == 20
        gate.set()  # both handlers return: their acks are pending when stop() comes
    assert sorted(handled) == sorted(started) == items[:2]
    assert consumer.stats.delivered == consumer.stats.acked == 2
    assert client.lrange(name, 0, -1) == list(reversed(items[2:]))  # back, in line
    assert_nothing_held(client, name)


@pytest.mark.parametrize(("kind", "held"), [("queue", 10 + 3), ("pool", 10)])
def test_items_held_ahead_are_bounded(client, name, kind, held):
    """concurrency=10, batch_size=3: a Queue's consumer holds 10 running + 3 ahead; a Pool's,
    whose items come back after ack_ttl, only the 10 it runs."""
    structure = KINDS[kind](name, client)
    items = items_named(40)
    structure.add_items(items)
    gate, started = threading.Event(), []

    def handler(item):
        started.append(item)
        gate.wait(BOUND)

    def waiting():
        return structure.get_count() if kind == "queue" else structure.get_count_to_process()

    consumer = Consumer(structure, handler, batch_size=3, concurrency=10, wait=0.2)
    try:
        with running(consumer):
            until(lambda: len(started) == 10 and waiting() == len(items) - held, f"{held} held")
            time.sleep(0.2)  # time to fetch more, if it would (it must not)
            assert waiting() == len(items) - held
            assert len(started) == 10
            gate.set()
            until(lambda: consumer.stats.acked == len(items), "every item acked")
    finally:
        gate.set()
    assert sorted(started) == sorted(items)
