"""A Consumer in a process of its own, for the tests that SIGTERM or SIGKILL it.

Usage::

    python consumer_runtime.py URL NAME [--kind queue|unique] [--batch-size N]
        [--concurrency N] [--handle-seconds S] [--wait S] [--lease-timeout N]
        [--sweep-interval S] [--grace-period S] [--max-deliveries N] [--max-seconds S]

It runs aiopyrq's Consumer over the Queue (or UniqueQueue) NAME. The handler sleeps
between half and all of --handle-seconds, then records the item, RPUSHing it to the list
``NAME-done``; the Consumer acks it after that, so a consumer killed in between shows as a
redelivery, never as a loss. SIGTERM or SIGINT stops it gracefully (``Consumer.run``'s own
signal handling).

It prints, one line each, flushed:

- ``READY <processing list>`` once the consumer runs;
- ``STOPPED <delivered> <acked> <failed> <recovered>`` after a graceful stop.

Exit status 0 after a graceful stop; 2 if --max-seconds passed first (it then stops itself).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys

from aiopyrq import Consumer, Queue, UniqueQueue

KINDS = {"queue": Queue, "unique": UniqueQueue}


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("name")
    parser.add_argument("--kind", choices=sorted(KINDS), default="queue")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--handle-seconds", type=float, default=0.01)
    parser.add_argument("--wait", type=float, default=1.0)
    parser.add_argument("--lease-timeout", type=int, default=1)
    parser.add_argument("--sweep-interval", type=float, default=0.5)
    parser.add_argument("--grace-period", type=float, default=5.0)
    parser.add_argument("--max-deliveries", type=int, default=None)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    return parser.parse_args(argv)


def say(*words: object) -> None:
    """Print one line for the test that reads our stdout."""
    print(*words, flush=True)  # noqa: T201 - the test reads it


async def main(argv: list[str]) -> int:
    """Run the consumer until SIGTERM (or --max-seconds); return the exit status."""
    args = parse(argv)
    kind = KINDS[args.kind]
    async with kind.from_url(args.name, args.url, max_deliveries=args.max_deliveries) as queue:
        done_key = f"{args.name}-done"

        async def handle(item: str) -> None:
            await asyncio.sleep(args.handle_seconds * random.uniform(0.5, 1.0))  # noqa: S311
            await queue.redis.rpush(done_key, item)

        consumer = Consumer(
            queue,
            handle,
            batch_size=args.batch_size,
            concurrency=args.concurrency,
            wait=args.wait,
            lease_timeout=args.lease_timeout,
            sweep_interval=args.sweep_interval,
            grace_period=args.grace_period,
        )
        running = asyncio.create_task(consumer.run())
        await asyncio.sleep(0)  # run() installs its signal handlers before its first await
        say("READY", queue.processing_queue_name)
        finished, _ = await asyncio.wait({running}, timeout=args.max_seconds)
        if not finished:
            consumer.stop()
            await running
            return 2
        running.result()
        stats = consumer.stats
        say("STOPPED", stats.delivered, stats.acked, stats.failed, stats.recovered)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="consumer_runtime: %(message)s")
    sys.exit(asyncio.run(main(sys.argv[1:])))
