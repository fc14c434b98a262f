"""Consumer tasks with ``max_in_flight``, run as a subprocess by test_limits.py.

Usage::

    python limited_consumer.py URL NAME CAP TASKS [--hold]

Each of TASKS tasks is a Queue NAME of its own with ``max_in_flight=CAP``. It takes up to 2
items at a time (waiting up to 0.2 s), records them (RPUSH to ``NAME-done``), holds them a
few milliseconds, then acknowledges them. The process starts once it pops a token from the
list ``NAME-go``, and ends once a get returns nothing and the key ``NAME-end`` exists. With
``--hold``, one task takes CAP items and holds them until killed.

It prints ``READY <processing lists>`` before its first get, ``HOLDING <n>`` with --hold.
"""

from __future__ import annotations

import asyncio
import sys

from redis.asyncio import Redis

from aiopyrq import Queue

HOLD_SECONDS = 60.0


async def consume(queue: Queue, client: Redis) -> None:
    """Take, record, hold, ack, until the queue is empty and the producer has finished."""
    while True:
        items = await queue.get_items(2, wait=0.2)
        if not items:
            if await client.exists(f"{queue.name}-end"):
                return
            continue
        await client.rpush(f"{queue.name}-done", *items)
        await asyncio.sleep(0.005)
        await queue.ack_items(items)


async def main(url: str, name: str, cap: int, tasks: int, *, hold: bool) -> None:
    async with Redis.from_url(url, decode_responses=True) as client:
        queues = [Queue(name, client, max_in_flight=cap) for _ in range(tasks)]
        print("READY", *(q.processing_queue_name for q in queues), flush=True)  # noqa: T201
        if hold:
            print("HOLDING", len(await queues[0].get_items(cap)), flush=True)  # noqa: T201
            await asyncio.sleep(HOLD_SECONDS)
            return
        await client.blpop([f"{name}-go"], HOLD_SECONDS)
        await asyncio.gather(*(consume(queue, client) for queue in queues))


if __name__ == "__main__":
    url, name, cap, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    asyncio.run(main(url, name, cap, tasks, hold="--hold" in sys.argv[5:]))
