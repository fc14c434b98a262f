"""A sync Consumer (``aiopyrq.sync``) in a process of its own, for the SIGTERM and SIGKILL tests.

The twin of ``consumer_runtime.py``: the same command line, the same handler (it sleeps,
then RPUSHes the item to ``NAME-done``, before the ack), the same lines printed (``READY
<processing list>``, ``STOPPED <delivered> <acked> <failed> <recovered>``) and exit
statuses; the Consumer runs in the main thread, its handlers in worker threads.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time

from consumer_runtime import parse, say

from aiopyrq.sync import Consumer, Queue, UniqueQueue

KINDS = {"queue": Queue, "unique": UniqueQueue}


def main(argv: list[str]) -> int:
    """Run the consumer until SIGTERM (or --max-seconds); return the exit status."""
    args = parse(argv)
    kind = KINDS[args.kind]
    with kind.from_url(args.name, args.url, max_deliveries=args.max_deliveries) as queue:
        done_key = f"{args.name}-done"

        def handle(item: str) -> None:
            time.sleep(args.handle_seconds * random.uniform(0.5, 1.0))  # noqa: S311
            queue.redis.rpush(done_key, item)

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
        too_long = threading.Timer(args.max_seconds, consumer.stop)
        too_long.daemon = True
        too_long.start()
        say("READY", queue.processing_queue_name)
        consumer.run()  # SIGTERM and SIGINT stop it: the handlers installed first thing
        if not too_long.is_alive():
            return 2
        too_long.cancel()
        stats = consumer.stats
        say("STOPPED", stats.delivered, stats.acked, stats.failed, stats.recovered)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="sync_consumer_runtime: %(message)s")
    sys.exit(main(sys.argv[1:]))
