"""The Consumer, one item at a time: acks sent together, the next batch fetched ahead.

Every test counts every item. Acks are gathered into few calls and follow the handler;
stop() sends the acks of the handlers that returned and gives back what was fetched and not
started; a consumer SIGKILLed mid-run loses nothing (its items come back through a live
consumer's reaper) and doubles only what it handled and had not acked yet; repeated handler
failures are logged with their item, the traceback once, the repeats counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import pytest

from aiopyrq import Consumer, Pool, Queue
from tests.helpers import items_named, until

pytestmark = [pytest.mark.redis, pytest.mark.all_deployments]

BOUND = 10  # seconds: the bound of any wait


class Watched(Queue):
    """A Queue that records each ack call and checks its items' handlers had returned."""

    def __init__(self, *args, returned: set, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.returned, self.ack_calls = returned, []

    async def ack_items(self, items) -> None:
        items = list(items)
        assert set(items) <= self.returned  # acked only after the handler returned
        self.ack_calls.append(items)
        await super().ack_items(items)


class ServiceDownError(Exception):
    """What a handler raises while the service it calls is down."""


async def run_until(consumer: Consumer, condition, what: str) -> None:
    """Run the consumer until condition() holds, then stop it; wait for run() to return."""
    task = asyncio.create_task(consumer.run(handle_signals=False))
    try:
        await until(condition, what=what, timeout=BOUND)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, BOUND)


async def assert_nothing_held(client, name: str) -> None:
    """No consumer holds an item: no processing list, no lease left."""
    assert await client.keys(f"{name}-processing-*") == []
    assert await client.exists(f"{name}-timeouts") == 0


@pytest.mark.parametrize("concurrency", [1, 10, 100])
async def test_acks_are_sent_together_after_the_handlers(client, name, concurrency):
    """Each item acked once, after its handler returned, in far fewer calls than items."""
    returned: set[str] = set()
    queue = Watched(name, client, returned=returned)
    items = items_named(500)
    await queue.add_items(items)

    async def handler(item: str) -> None:
        await asyncio.sleep(0)
        returned.add(item)

    consumer = Consumer(queue, handler, batch_size=50, concurrency=concurrency, wait=0.2)
    await run_until(consumer, lambda: consumer.stats.acked == len(items), "every item acked")

    acked = [item for call in queue.ack_calls for item in call]
    print(f"concurrency={concurrency} ack calls={len(queue.ack_calls)}")  # noqa: T201
    assert Counter(acked) == Counter(items)
    assert len(queue.ack_calls) <= len(items) // 10
    assert consumer.stats.delivered == consumer.stats.acked == len(items)
    assert await queue.get_count() == 0
    await assert_nothing_held(client, name)


async def test_stop_sends_the_acks_and_gives_back_what_was_fetched_ahead(client, name):
    """stop(): the handlers that returned are acked; fetched, unstarted items go back in line."""
    queue = Queue(name, client)
    items = items_named(30)
    await queue.add_items(items)
    gate, started, handled = asyncio.Event(), [], []

    async def handler(item: str) -> None:
        started.append(item)
        await gate.wait()
        handled.append(item)

    consumer = Consumer(queue, handler, batch_size=10, concurrency=2, wait=0.2)
    task = asyncio.create_task(consumer.run(handle_signals=False))
    try:
        await until(lambda: len(started) == 2, what="two handlers running")
        processing = queue.processing_queue_name

        async def fetched_ahead() -> bool:
            return await client.llen(processing) == 10

        await until(fetched_ahead, what="a batch fetched ahead")
        await asyncio.sleep(0.1)  # time to fetch more, if it would (it must not)
        assert await client.llen(processing) == 10  # 2 running + 8 ahead: within 2 + 10
        assert await client.llen(name) == 20
        gate.set()  # both handlers return: their acks are pending when stop() comes
        consumer.stop()
        await asyncio.wait_for(task, BOUND)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert handled == started == items[:2]
    assert consumer.stats.delivered == consumer.stats.acked == 2
    assert await client.lrange(name, 0, -1) == list(reversed(items[2:]))  # back, in line
    await assert_nothing_held(client, name)


async def test_repeated_failures_are_logged_once_with_a_count(client, name, caplog):
    """50 items failing the same way: one record with item and traceback, then the count."""
    queue = Queue(name, client, max_deliveries=1)  # each failure dead-letters its item
    items = [f"{i}-" + "x" * 1000 for i in range(50)]
    await queue.add_items(items)

    async def handler(item: str) -> None:
        raise ServiceDownError(item[:3])

    consumer = Consumer(queue, handler, batch_size=10, concurrency=5, wait=0.2)

    async def all_dead() -> bool:
        return await queue.get_dead_count() == len(items)

    with caplog.at_level(logging.INFO, logger="aiopyrq"):
        await run_until(consumer, all_dead, "every item failed")

    records = [r for r in caplog.records if "handler fail" in r.getMessage()]
    messages = [r.getMessage() for r in records]
    print("\n".join(m[:150] for m in messages))  # noqa: T201
    assert consumer.stats.failed == len(items)
    assert len(records) == 2  # the first failure, then the count (at shut-down)
    assert records[0].exc_info is not None  # the traceback, once
    assert records[1].exc_info is None
    assert "ServiceDownError: 0-" in messages[0]
    assert "x" * 150 in messages[0]  # the item, cut
    assert all(len(message) < 800 for message in messages)
    assert "ServiceDownError (… repeated 49 times in the last " in messages[1]


async def test_heartbeat_keeps_items_fetched_ahead(client, name):
    """An item fetched ahead of a handler longer than lease_timeout stays its consumer's."""
    calls = []

    def consumer(label: str, seconds: float) -> Consumer:
        async def handler(item: str) -> None:
            calls.append((label, item))
            await asyncio.sleep(seconds)

        return Consumer(
            Queue(name, client), handler, batch_size=2, wait=0.2, lease_timeout=1,
            sweep_interval=0.5,
        )  # fmt: skip

    slow, other = consumer("slow", 3.0), consumer("other", 0)
    await Queue(name, client).add_items(["long", "next"])
    slow_run = asyncio.create_task(slow.run(handle_signals=False))
    try:
        await until(lambda: calls, what="the slow handler started")
        assert await client.llen(name) == 0  # "next" fetched ahead, waiting for the handler
        await run_until(other, lambda: slow.stats.acked == 2, "both items done by the slow one")
    finally:
        slow.stop()
        await asyncio.wait_for(slow_run, BOUND)
    assert calls == [("slow", "long"), ("slow", "next")]
    assert slow.stats.recovered == other.stats.recovered == 0
    await assert_nothing_held(client, name)


@pytest.mark.parametrize(("kind", "held"), [("queue", 10 + 3), ("pool", 10)])
async def test_items_held_ahead_are_bounded(client, name, caplog, kind, held):
    """concurrency=10, batch_size=3: a Queue's consumer holds 10 running + 3 ahead; a
    Pool's, whose items come back after ack_ttl, only the 10 it runs."""
    structure = Queue(name, client) if kind == "queue" else Pool(name, client)
    items = items_named(40)
    await structure.add_items(items)
    gate, started = asyncio.Event(), []

    async def handler(item: str) -> None:
        started.append(item)
        await gate.wait()

    async def waiting() -> int:
        if kind == "queue":
            return await structure.get_count()
        return await structure.get_count_to_process()

    async def all_held() -> bool:
        return len(started) == 10 and await waiting() == len(items) - held

    consumer = Consumer(structure, handler, batch_size=3, concurrency=10, wait=0.2)
    with caplog.at_level(logging.WARNING, logger="aiopyrq"):
        task = asyncio.create_task(consumer.run(handle_signals=False))
        try:
            await until(all_held, what=f"{held} items held")
            await asyncio.sleep(0.2)  # time to fetch more, if it would (it must not)
            assert await waiting() == len(items) - held
            assert len(started) == 10
            gate.set()
            await until(lambda: consumer.stats.acked == len(items), what="every item acked")
        finally:
            consumer.stop()
            await asyncio.wait_for(task, BOUND)
    assert sorted(started) == sorted(items)
    assert [r.getMessage() for r in caplog.records] == []  # no failed get, nothing odd
