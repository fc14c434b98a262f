"""Limits in the sync twin: ``max_in_flight`` and ``rate_limit`` across threads.

The same scripts as the asyncio twin's (tests/integration/test_limits.py): these check the
sync waits (a get blocked at the cap wakes on another thread's ack; one at the rate limit
sleeps until the window has room) and the hand-written sync Consumer under a cap.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from aiopyrq.sync import Consumer, Queue, UniqueQueue
from tests.helpers import items_named

pytestmark = [pytest.mark.redis, pytest.mark.all_deployments]

KINDS = {"queue": Queue, "unique": UniqueQueue}
BOUND = 10  # seconds: the bound of any wait
SUM_LENGTHS = "local n = 0 for _, k in ipairs(KEYS) do n = n + redis.call('LLEN', k) end return n"


def held_now(client, queues) -> int:
    """The items in the processing lists of these consumers, read at one moment."""
    lists = [queue.processing_queue_name for queue in queues]
    return int(client.eval(SUM_LENGTHS, len(lists), *lists))


def test_a_waiting_get_wakes_when_another_thread_acks(client, name):
    """A get blocked at the cap returns once another consumer's ack frees room."""
    holder, waiter = Queue(name, client, max_in_flight=2), Queue(name, client, max_in_flight=2)
    holder.add_items(items_named(5))
    held = holder.get_items(2)
    with ThreadPoolExecutor(1) as pool:
        get = pool.submit(waiter.get_items, 5, BOUND)
        time.sleep(0.3)
        assert not get.done()
        holder.ack_item(held[0])
        assert len(get.result(BOUND / 2)) == 1


def test_a_rate_limited_get_sleeps_until_the_window_has_room(client, name):
    """A waiting get at the rate limit returns the next item once the window lets it."""
    queue = Queue(name, client, rate_limit=(2, 0.4))
    queue.add_items(items_named(5))
    assert len(queue.get_items(5)) == 2
    assert queue.get_items(5) == []
    started = time.monotonic()
    assert len(queue.get_items(5, wait=BOUND)) == 2
    assert time.monotonic() - started < BOUND / 2


@pytest.mark.parametrize("kind", KINDS)
def test_sync_consumers_with_a_cap_lose_nothing(client, name, kind):
    """Sync Consumers on a capped queue handle each item once, never more than the cap at once."""
    cap, total = 3, 40
    queues = [KINDS[kind](name, client, max_in_flight=cap) for _ in range(3)]
    queues[0].add_items(items_named(total))
    handled: Counter = Counter()
    lock = threading.Lock()
    running, most, sampled = 0, 0, []

    def handler(item) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.005)
        with lock:
            running -= 1
            handled[item] += 1
        sampled.append(held_now(client, queues))

    consumers = [Consumer(q, handler, concurrency=2, batch_size=5, wait=0.2) for q in queues]
    threads = [threading.Thread(target=c.run, kwargs={"handle_signals": False}) for c in consumers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + BOUND
    while sum(handled.values()) < total and time.monotonic() < deadline:
        time.sleep(0.02)
    for consumer in consumers:
        consumer.stop()
    for thread in threads:
        thread.join(BOUND)
    assert not any(thread.is_alive() for thread in threads)
    assert handled == Counter(items_named(total))
    assert most <= cap
    assert max(sampled) <= cap
    assert held_now(client, queues) == 0
