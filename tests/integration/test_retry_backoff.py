"""Retry backoff: a Consumer rejects a failed item with a delay that grows with its failures.

Times are the server's: a redelivery starts no sooner than the failure's end plus its delay.
"""

from __future__ import annotations

import asyncio

import pytest

from aiopyrq import Consumer, Queue, UniqueQueue
from aiopyrq._delay import retry_after
from tests.helpers import BOUND, server_ms

pytestmark = [pytest.mark.redis, pytest.mark.all_deployments]

KINDS = {"queue": Queue, "unique": UniqueQueue}


async def deliveries_of(client, queue, retry_delay, failures: int, wait: float = 0.2) -> list[int]:
    """Run a Consumer whose handler fails ``failures`` times on an item, then succeeds.

    Returns:
        The server's time (ms) at the start of each delivery, and the last failure's end
        before each redelivery: [start 1, end 1, start 2, end 2, ..., start n+1].
    """
    await queue.add_item("flaky")
    times: list[int] = []
    done = asyncio.Event()

    async def handler(item: str) -> None:
        times.append(await server_ms(client, queue.keys.queue))
        if len(times) // 2 < failures:
            times.append(await server_ms(client, queue.keys.queue))
            msg = f"failure {len(times) // 2} of {item}"
            raise RuntimeError(msg)
        done.set()

    consumer = Consumer(queue, handler, wait=wait, retry_delay=retry_delay)
    task = asyncio.create_task(consumer.run(handle_signals=False))
    try:
        await asyncio.wait_for(done.wait(), BOUND * 2)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, BOUND)
    assert consumer.stats.failed == failures
    assert consumer.stats.acked == 1
    return times


@pytest.mark.parametrize("kind", KINDS)
async def test_consumer_retries_after_the_delay(client, name, kind):
    """A failed item is delivered again only once its retry delay has passed (server clock)."""
    queue = KINDS[kind](name, client)
    asked: list[int] = []

    def retry_delay(deliveries: int) -> float:
        asked.append(deliveries)
        return 0.3 * deliveries

    times = await deliveries_of(client, queue, retry_delay, 3)
    assert asked == [1, 2, 3]
    gaps = [times[i + 1] - times[i] for i in range(1, len(times) - 1, 2)]
    assert len(gaps) == 3
    for failures, gap in enumerate(gaps, start=1):
        assert gap >= 300 * failures, gaps
    assert await client.exists(queue.keys.delayed, queue.keys.deliveries) == 0


async def test_consumer_without_retry_delay_retries_at_once(client, name):
    """retry_delay=0: a failed item goes back to the front at once, uncounted, as before."""
    queue = Queue(name, client)
    times = await deliveries_of(client, queue, 0, 3)
    # The default delays (about 1 s, 2 s, 4 s, spread by 25 %) would take 5 s at least.
    assert times[-1] - times[0] < 5000
    assert await client.exists(queue.keys.delayed, queue.keys.deliveries) == 0


async def test_consumer_default_retry_delay_waits(client, name):
    """By default the first retry comes about 1 s after the failure (at least 0.75 s)."""
    queue = Queue(name, client)
    times = await deliveries_of(client, queue, retry_after, 1)
    assert times[2] - times[1] >= 750


@pytest.mark.parametrize("kind", KINDS)
async def test_consumer_retry_comes_on_time_despite_a_long_wait(client, name, kind):
    """A Consumer whose get waits 5 s takes back its own failed item once due, not after 5 s.

    Its fetcher is already waiting in a get when the handler fails (the queue is otherwise
    empty): the reject with a delay, made through the same object, ends that wait, and the
    get waits again until the item is due.
    """
    queue = KINDS[kind](name, client)
    times = await deliveries_of(client, queue, 0.3, 1, wait=5.0)
    gap = times[2] - times[1]
    assert 300 <= gap < 2500, times
