"""A Consumer over a ShardedQueue in a process of its own, for test_sharded.py to SIGKILL.

Usage::

    python sharded_consumer.py URL NAME SHARDS [--cluster] [--handle-seconds S]
        [--lease-timeout N] [--sweep-interval S] [--max-seconds S]

It runs aiopyrq's Consumer over ``ShardedQueue(NAME, client, shards=SHARDS)``, the client a
RedisCluster with ``--cluster``. The handler sleeps between half and all of
--handle-seconds, then records the item, RPUSHing it to the list ``NAME-done``; the
Consumer acks it after that, so a consumer killed in between shows as a redelivery, never
as a loss. SIGTERM stops it gracefully.

It prints, one line each, flushed:

- ``READY <processing list of shard 0> <of shard 1> ...`` once the consumer runs;
- ``STOPPED <delivered> <acked> <failed> <recovered>`` after a graceful stop.

Exit status 0 after a graceful stop; 2 if --max-seconds passed first.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from aiopyrq import Consumer, ShardedQueue


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("name")
    parser.add_argument("shards", type=int)
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--handle-seconds", type=float, default=0.02)
    parser.add_argument("--lease-timeout", type=int, default=1)
    parser.add_argument("--sweep-interval", type=float, default=0.5)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    return parser.parse_args(argv)


def say(*words: object) -> None:
    """Print one line for the test that reads our stdout."""
    print(*words, flush=True)  # noqa: T201 - the test reads it


async def main(argv: list[str]) -> int:
    """Run the consumer until SIGTERM (or --max-seconds); return the exit status."""
    args = parse(argv)
    kind = RedisCluster if args.cluster else Redis
    client = kind.from_url(args.url, decode_responses=True)
    try:
        if args.cluster:
            # Before any concurrent command: redis-py 8.1's cluster client, initialized by
            # concurrent first commands, may close connections other tasks are using (see
            # initialized() in test_cluster.py).
            await client.initialize()
        queue = ShardedQueue(args.name, client, shards=args.shards)

        async def handle(item: str) -> None:
            await asyncio.sleep(args.handle_seconds * random.uniform(0.5, 1.0))  # noqa: S311
            await client.rpush(f"{args.name}-done", item)

        consumer = Consumer(
            queue,
            handle,
            batch_size=5,
            concurrency=4,
            wait=0.5,
            lease_timeout=args.lease_timeout,
            sweep_interval=args.sweep_interval,
            grace_period=5.0,
        )
        running = asyncio.create_task(consumer.run())
        await asyncio.sleep(0)  # run() installs its signal handlers before its first await
        say("READY", *(shard.processing_queue_name for shard in queue.shards))
        finished, _ = await asyncio.wait({running}, timeout=args.max_seconds)
        if not finished:
            consumer.stop()
            await running
            return 2
        running.result()
        stats = consumer.stats
        say("STOPPED", stats.delivered, stats.acked, stats.failed, stats.recovered)
    finally:
        await client.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
