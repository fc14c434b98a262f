"""A reliable queue surviving a consumer's crash: ``make demo`` or ``python examples/demo.py``.

A producer adds items in batches; consumer processes take batches, work a little, record
what they processed in ``<queue>-done``, then acknowledge. One consumer takes a batch,
processes half of it and is killed with SIGKILL before its ack: its items stay in its
processing list. Once its lease is older than two seconds (the live consumers renew theirs
at each get), ``re_enqueue_timeout_items`` puts them back and the survivors finish the
work. At the end every item is counted: none may be lost, and only the killed batch may
have been processed twice (delivery is at least once).

The demo uses ``$REDIS_URL`` if it answers, with a queue name of its own whose keys it
deletes at the end; otherwise it starts a throwaway server with the test harness of this
checkout (``tests/harness``). The exit code is 0 when every item is accounted for, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import redis

from aiopyrq import Queue
from aiopyrq._urls import mask

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess
    from multiprocessing.synchronize import Event

LEASE_TIMEOUT = 2  # seconds since its last get before a consumer's items are taken back
WORK_PER_ITEM = 0.0002  # seconds of simulated work per item
DEADLINE = 120.0  # seconds: the longest any wait of the demo lasts
ROOT = Path(__file__).resolve().parents[1]  # the checkout, whose tests.harness starts servers


def say(text: str) -> None:
    """Print one line of the demo's story."""
    print(text, flush=True)  # noqa: T201 - the demo talks to its user


def consumer(url: str, name: str, batch: int, stop: Event, victim: Connection | None) -> None:
    """Run one consumer process (the entry point of ``multiprocessing``).

    Args:
        url: The Redis URL.
        name: The queue's name.
        batch: How many items to take per get.
        stop: Set by the main process once every item is done.
        victim: Only for the consumer to kill: where it reports the batch it holds.
    """
    asyncio.run(consume(url, name, batch, stop, victim))


async def consume(url: str, name: str, batch: int, stop: Event, victim: Connection | None) -> None:
    """Take, process, record and acknowledge batches until the queue is empty and stopped."""
    deadline = time.monotonic() + DEADLINE
    async with Queue.from_url(name, url) as queue:
        while time.monotonic() < deadline:
            items = await queue.get_items(batch)
            if not items:
                if stop.is_set():
                    return
                await asyncio.sleep(0.01)
                continue
            if victim is not None:  # process half the batch, report it, wait for SIGKILL
                await queue.redis.rpush(f"{name}-done", *items[: (len(items) + 1) // 2])
                victim.send((queue.processing_queue_name, items))
                await asyncio.sleep(DEADLINE)
                return
            await asyncio.sleep(WORK_PER_ITEM * len(items))
            await queue.redis.rpush(f"{name}-done", *items)
            await queue.ack_items(items)


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    """Yield ``$REDIS_URL`` if it answers, else the URL of a throwaway server."""
    url = os.environ.get("REDIS_URL")
    if url:
        try:
            with redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2) as client:
                client.ping()
        except redis.RedisError as exc:
            say(f"REDIS_URL={mask(url)} does not answer ({exc})")
        else:
            say(f"server: {mask(url)}, from REDIS_URL")
            yield url
            return
    sys.path.insert(0, str(ROOT))
    from tests.harness import RedisServer  # noqa: PLC0415 - only when no REDIS_URL answers

    with RedisServer() as server:
        say(f"server: a throwaway {server.binary} {server.version} at {server.url}")
        yield server.url


async def produce(queue: Queue, first: int, last: int, batch: int) -> None:
    """Add the items ``item-<first>`` to ``item-<last - 1>`` in batches."""
    for start in range(first, last, batch):
        await queue.add_items(f"item-{i}" for i in range(start, min(start + batch, last)))


async def recover(queue: Queue) -> int:
    """Wait until the killed consumer's lease is stale, then put its items back.

    Returns:
        How many items went back to the queue.
    """
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        recovered = await queue.re_enqueue_timeout_items(timeout=LEASE_TIMEOUT)
        if recovered:
            return recovered
        await asyncio.sleep(0.25)
    return 0


async def left(queue: Queue) -> int:
    """Return how many items wait in the queue, plus how many consumers hold items."""
    return await queue.get_count() + await queue.redis.hlen(queue.timeouts_hash_name)


async def drain(queue: Queue) -> None:
    """Wait until no item waits in the queue and no consumer holds any, or the deadline."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if not await left(queue):
            return
        await asyncio.sleep(0.05)


def join(processes: Sequence[BaseProcess]) -> None:
    """Wait for the started consumers to stop, killing any that does not in time."""
    for process in processes:
        if process.pid is None:  # never started
            continue
        process.join(DEADLINE / 4)
        if process.is_alive():
            process.kill()
            process.join()
            say(f"{process.name} did not stop: killed")


async def run(args: argparse.Namespace, url: str, name: str) -> bool:
    """Run the demo on the queue ``name`` and print its summary.

    Returns:
        Whether every item is accounted for.
    """
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    receive, send = ctx.Pipe(duplex=False)
    processes = [
        ctx.Process(
            target=consumer,
            args=(url, name, args.batch, stop, None if i else send),
            name=f"consumer-{i}",
            daemon=True,  # killed if the demo itself fails
        )
        for i in range(args.consumers)
    ]
    victim, others = processes[0], processes[1:]
    async with Queue.from_url(name, url) as queue:
        started = time.monotonic()
        try:
            victim.start()  # it alone takes the first batch: the kill is deterministic
            await produce(queue, 0, min(args.batch, args.items), args.batch)
            if not await asyncio.to_thread(receive.poll, DEADLINE):
                say(f"{victim.name} took no batch in {DEADLINE:.0f} s")
                return False
            processing, held = receive.recv()
            say(f"{victim.name} holds {len(held)} items in {processing}, half processed")
            for process in others:
                process.start()
            victim.kill()
            say(f"{victim.name} (pid {victim.pid}) killed with SIGKILL before its ack")
            await produce(queue, args.batch, args.items, args.batch)
            say(f"waiting for its lease to be {LEASE_TIMEOUT} s old; the others work on")
            recovered = await recover(queue)
            say(f"re_enqueue_timeout_items(timeout={LEASE_TIMEOUT}) put back {recovered} items")
            await drain(queue)
        finally:
            stop.set()
            await asyncio.to_thread(join, processes)
        elapsed = time.monotonic() - started
        return await account(queue, args, held, recovered, elapsed)


async def account(
    queue: Queue, args: argparse.Namespace, held: list[str], recovered: int, elapsed: float
) -> bool:
    """Count every item, print the summary and tell whether all are accounted for."""
    counts = Counter(await queue.redis.lrange(f"{queue.name}-done", 0, -1))
    lost = {f"item-{i}" for i in range(args.items)} - counts.keys()
    duplicates = {item for item, times in counts.items() if times > 1}
    leftover = await left(queue)
    ok = (
        not lost
        and len(counts) == args.items
        and recovered == len(held)
        and duplicates <= set(held)
        and max(counts.values(), default=0) <= 2  # noqa: PLR2004 - at most one redelivery
        and not leftover
    )
    rows = {
        "items": f"{args.items} added in batches of {args.batch}",
        "consumers": f"{args.consumers} processes, consumer-0 killed holding {len(held)} items",
        "recovered": f"{recovered} of the killed consumer's items",
        "redelivered": recovered,
        "processed": f"{len(counts)} distinct items, {sum(counts.values())} in all",
        "duplicates": f"{len(duplicates)}, all from the killed batch: {duplicates <= set(held)}",
        "lost": len(lost),
        "left over": leftover,
        "elapsed": f"{elapsed:.1f} s, {args.items / elapsed:.0f} items/s",
    }
    for label, value in rows.items():
        say(f"{label:<12} {value}")
    say("OK: every item is accounted for" if ok else "FAILED: some items are not accounted for")
    return ok


async def cleanup(url: str, name: str) -> None:
    """Delete the demo's keys: the queue and the keys its (random) name prefixes."""
    async with Queue.from_url(name, url) as queue:
        keys = [name, *[key async for key in queue.redis.scan_iter(match=f"{name}-*")]]
        await queue.redis.delete(*keys)


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the demo and return the exit code."""
    parser = argparse.ArgumentParser("examples/demo.py", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--items", type=int, default=20_000, help="items to add (20000)")
    parser.add_argument("--consumers", type=int, default=3, help="consumer processes, >= 2 (3)")
    parser.add_argument("--batch", type=int, default=100, help="items per add and get (100)")
    args = parser.parse_args(argv)
    if min(args.items, args.batch) < 1 or args.consumers < 2:  # noqa: PLR2004 - one is killed
        parser.error("--items and --batch must be positive, --consumers at least 2")
    name = f"aiopyrq-demo-{uuid.uuid4().hex[:8]}"
    with redis_url() as url:
        say(f"queue: {name}, {args.consumers} consumers, {args.items} items")
        try:
            ok = asyncio.run(run(args, url, name))
        finally:
            asyncio.run(cleanup(url, name))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
