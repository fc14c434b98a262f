"""One sync structure object used by several threads at once: every item counted, once.

``aiopyrq.sync`` says a structure object may be shared between threads (it stays one
consumer, with one processing list); these tests hold it to that.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

import aiopyrq.sync
from tests.helpers import BOUND, items_named

pytestmark = [pytest.mark.redis, pytest.mark.all_deployments]

THREADS = 8
PER_THREAD = 200
TOTAL = THREADS * PER_THREAD


def sharded(name, client):
    """A ShardedQueue of three shards."""
    return aiopyrq.sync.ShardedQueue(name, client, shards=3)


@pytest.fixture(
    params=[aiopyrq.sync.Queue, aiopyrq.sync.UniqueQueue, sharded],
    ids=["Queue", "UniqueQueue", "ShardedQueue"],
)
def queue(request, client, name):
    """The one queue object all the threads of a test share."""
    return request.param(name, client)


def in_threads(target, count=THREADS):
    """Run target(i) in count threads at once; raise the first error any of them raised."""
    errors = []

    def run(i):
        try:
            target(i)
        except BaseException as error:  # noqa: BLE001 - handed to the test below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BOUND)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    if errors:
        raise errors[0]


def all_items():
    """Every item the threads add: PER_THREAD per thread, distinct."""
    return [item for i in range(THREADS) for item in items_named(PER_THREAD, f"t{i}")]


def add_in_threads(structure):
    """Each thread adds its items, one by one and in batches, through the shared object."""

    def add(i):
        mine = items_named(PER_THREAD, f"t{i}")
        for item in mine[:20]:
            structure.add_item(item)
        for start in range(20, PER_THREAD, 30):
            structure.add_items(mine[start : start + 30])

    in_threads(add)


def test_threads_add_take_ack_and_reject(queue):
    """Threads add, take, reject (once each item) and ack through one object: nothing lost."""
    add_in_threads(queue)
    assert queue.get_count() == TOTAL
    acked: Counter = Counter()
    rejected: set = set()
    lock = threading.Lock()

    def consume(_):
        for _ in range(TOTAL):  # a bound: each round takes an item at least
            items = queue.get_items(37, wait=0.3)
            if not items:
                return
            with lock:
                again = [item for item in items if item in rejected]
                first = [item for item in items if item not in rejected]
                reject = first[::3]  # a third of the new ones go back once
                rejected.update(reject)
                done = again + [item for item in first if item not in reject]
                acked.update(done)
            queue.heartbeat()
            queue.reject_items(reject)
            queue.ack_items(done)

    in_threads(consume)
    assert acked == Counter(all_items())
    assert queue.get_count() == 0
    assert queue.release() == 0  # this consumer holds nothing


def test_threads_block_on_an_empty_queue(queue):
    """Threads blocked on an empty queue share one batch added later: each item once."""
    got: Counter = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + BOUND

    def wait_for_items(_):
        while time.monotonic() < deadline:
            with lock:
                if sum(got.values()) >= TOTAL:
                    return
            items = queue.get_items(50, wait=0.5)
            with lock:
                got.update(items)
            queue.ack_items(items)

    feeder = threading.Timer(0.3, lambda: queue.add_items(all_items()))
    feeder.start()
    in_threads(wait_for_items)
    feeder.join()
    assert got == Counter(all_items())
    assert queue.get_count() == 0
    queue.release()  # ShardedQueue: ends the blocking gets still waiting


def test_pool_from_threads(client, name):
    """Threads add, take and ack a Pool's items through one object: each handed out once."""
    pool = aiopyrq.sync.Pool(name, client)
    add_in_threads(pool)
    handed: Counter = Counter()
    lock = threading.Lock()

    def consume(_):
        for _ in range(TOTAL):
            items = pool.get_items(25)
            if not items:
                return
            with lock:
                handed.update(items)
            pool.ack_items(items)

    in_threads(consume)
    assert handed == Counter(all_items())
    assert pool.get_count() == TOTAL
    assert pool.get_count_to_process() == 0
