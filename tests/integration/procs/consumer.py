"""A consumer that test_failures.py runs as a subprocess, to kill it where it wants.

Usage::

    python consumer.py URL NAME KIND BATCH [--hold-at N] [--hold-after-done]
                       [--step-delay SECONDS] [--max-seconds SECONDS]

It takes batches of up to BATCH items from the Queue (KIND ``queue``) or UniqueQueue
(``unique``) NAME. For each batch it first records the items, RPUSHing them to the list
``NAME-done`` in the same Redis, then acknowledges them: a crash between the two shows as
a redelivery, never as a loss. It exits once the queue is empty and the key ``NAME-end``
exists (the producer has finished), or after ``--max-seconds`` (exit status 2).

It prints, one line each, flushed:

- ``READY <processing list>`` once connected, before its first get;
- ``HOLDING <n> <processing list>`` with ``--hold-at N``: its N-th batch, of n items, is
  taken and not acknowledged (not recorded either, unless ``--hold-after-done``); it then
  sleeps until killed (at most ``--max-seconds``);
- ``DONE <n>`` when it exits normally, having acknowledged n items.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiopyrq import Queue, UniqueQueue

KINDS = {"queue": Queue, "unique": UniqueQueue}
POLL_INTERVAL = 0.005  # seconds between gets while the queue is empty


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("name")
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("batch", type=int)
    parser.add_argument("--hold-at", type=int, default=0, help="batch to hold (1 = first)")
    parser.add_argument("--hold-after-done", action="store_true", help="record, then hold")
    parser.add_argument("--step-delay", type=float, default=0.0, help="sleep between steps")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="give up after this")
    return parser.parse_args(argv)


def say(*words: object) -> None:
    """Print one line for the test that reads our stdout."""
    print(*words, flush=True)  # noqa: T201 - the test reads it


async def consume(args: argparse.Namespace, queue: Queue) -> int:
    """Process batches until the queue is empty and the producer has finished.

    Returns:
        How many items were acknowledged.
    """
    redis = queue.redis
    done_key, end_key = f"{args.name}-done", f"{args.name}-end"
    batches = acked = 0
    say("READY", queue.processing_queue_name)
    while True:
        ended = await redis.exists(end_key)  # before the get: then an empty get means drained
        items = await queue.get_items(args.batch)
        if not items:
            if ended:
                return acked
            await asyncio.sleep(POLL_INTERVAL)
            continue
        batches += 1
        if batches == args.hold_at and not args.hold_after_done:
            await hold(items, queue)
        await asyncio.sleep(args.step_delay)
        await redis.rpush(done_key, *items)
        if batches == args.hold_at:
            await hold(items, queue)
        await asyncio.sleep(args.step_delay)
        await queue.ack_items(items)
        acked += len(items)


async def hold(items: list[str], queue: Queue) -> None:
    """Announce the batch held, then wait to be killed."""
    say("HOLDING", len(items), queue.processing_queue_name)
    await asyncio.Event().wait()  # --max-seconds ends it if nobody kills us


async def main(argv: list[str]) -> int:
    """Run the consumer; return the exit status."""
    args = parse(argv)
    async with KINDS[args.kind].from_url(args.name, args.url) as queue:
        try:
            acked = await asyncio.wait_for(consume(args, queue), args.max_seconds)
        except asyncio.TimeoutError:
            say("GAVE UP")
            return 2
    say("DONE", acked)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
