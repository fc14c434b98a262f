"""The Consumer runtime surviving a crash: ``make demo`` or ``python examples/demo.py``.

Consumer processes run ``aiopyrq.Consumer`` over one queue, each fetching batches with a
blocking get and handling them whole (``batch=True``): a little simulated work per item,
the item recorded in ``<queue>-done``, then the ack. One consumer is killed with SIGKILL in
the middle of its first batch, half of it handled and none of it acknowledged. Nothing in
this script recovers it: once its lease is ``LEASE_TIMEOUT`` seconds old, the reaper of one
of the surviving Consumers puts its items back in the queue, and the survivors handle them.
Then SIGTERM stops the survivors gracefully, and every item is counted: none lost, each
acknowledged once; only the half batch the killed consumer handled before dying is handled
twice (delivery is at least once). The library's own throughput (its gets and acks) is
reported apart from the simulated work.

The demo uses ``$REDIS_URL`` if it answers, with a queue name of its own whose keys it
deletes at the end; otherwise it starts a throwaway server with the test harness of this
checkout (``tests/harness``: ``redis-server`` on the PATH, else the embedded Valkey of the
``server`` extra). Exit codes: 0 every item accounted for, 1 not, 2 bad options, 3 no
server to run on, 4 another error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
from redis.asyncio import Redis

from aiopyrq import Consumer, Queue
from aiopyrq._urls import mask

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from multiprocessing.connection import Connection
    from multiprocessing.context import SpawnContext
    from multiprocessing.process import BaseProcess

LEASE_TIMEOUT = 2  # seconds without a heartbeat before a consumer counts as dead
SWEEP_INTERVAL = 1.0  # seconds between two runs of each Consumer's reaper
WAIT = 1.0  # seconds a blocking get waits for items
DEADLINE = 120.0  # seconds: the longest any wait of the demo lasts
ROOT = Path(__file__).resolve().parents[1]  # the checkout, whose tests.harness starts servers
EXIT_LOST, EXIT_USAGE, EXIT_NO_SERVER, EXIT_ERROR, EXIT_INTERRUPTED = 1, 2, 3, 4, 130


class DemoError(Exception):
    """Something that stops the demo, told in one line."""


class NoServerError(DemoError):
    """No server to run the demo on."""


def say(text: str, end: str = "\n") -> None:
    """Print a line (or, with end="", a progress line to overwrite) of the demo's story."""
    print(text, end=end, flush=True)  # noqa: T201 - the demo talks to its user


class TimedQueue(Queue):
    """A Queue that times its own gets and acks: the library's share of a consumer's time."""

    def __init__(self, name: str, client: Redis) -> None:
        """Make the queue ``name`` over ``client``."""
        super().__init__(name, client)
        self.library_seconds = 0.0

    async def get_items(self, count: int, wait: float | None = None) -> list[Any]:
        """Take up to count items; a get that brought items counts as library time."""
        started = time.perf_counter()
        items = await super().get_items(count, wait)
        if items:  # a get that found nothing was waiting, not working
            self.library_seconds += time.perf_counter() - started
        return items

    async def ack_items(self, items: Iterable[str | bytes | int | float]) -> None:
        """Acknowledge items, counting the time as library time."""
        started = time.perf_counter()
        await super().ack_items(items)
        self.library_seconds += time.perf_counter() - started


def consumer_process(url: str, name: str, options: dict[str, float], report: Connection) -> None:
    """Run one Consumer until SIGTERM, then report its figures (multiprocessing's target).

    Args:
        url: The Redis URL.
        name: The queue's name.
        options: ``batch`` (items per get), ``work`` (seconds per item), ``victim`` (1 for
            the consumer to kill: it reports its first batch half handled, then hangs).
        report: Where the figures (or, for the victim, its batch) go.
    """
    # The runtime logs what it does on the logger "aiopyrq" (a recovery is a warning).
    process = multiprocessing.current_process().name
    logging.basicConfig(format=f"{process}: %(message)s", level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the Consumer stops on SIGINT
        asyncio.run(consume(url, name, options, report))


async def consume(url: str, name: str, options: dict[str, float], report: Connection) -> None:
    """Consume ``name`` with ``aiopyrq.Consumer`` until stopped; report what it did."""
    async with Redis.from_url(url, decode_responses=True) as client:
        queue = TimedQueue(name, client)

        async def record(items: list[str]) -> None:
            await asyncio.sleep(options["work"] * len(items))  # the simulated work
            async with client.pipeline(transaction=False) as pipe:
                for item in items:
                    pipe.hincrby(f"{name}-done", item, 1)
                await pipe.execute()

        async def handle(items: list[str]) -> None:
            if not options["victim"]:
                await record(items)
                return
            await record(items[: len(items) // 2])
            report.send((queue.processing_queue_name, items))
            await asyncio.sleep(DEADLINE)  # SIGKILL comes before the rest and the ack

        consumer = Consumer(
            queue,
            handle,
            batch=True,
            batch_size=int(options["batch"]),
            wait=WAIT,
            lease_timeout=LEASE_TIMEOUT,
            sweep_interval=SWEEP_INTERVAL,
            grace_period=10.0,
        )
        running = asyncio.create_task(consumer.run())  # until SIGTERM (or SIGINT)
        await asyncio.sleep(0)  # run() has set its signal handlers: SIGTERM now stops it
        report.send("running")
        await running
        stats = consumer.stats
        report.send(
            {
                "acked": stats.acked,
                "recovered": stats.recovered,
                "work": stats.handler_seconds,
                "library": queue.library_seconds,
            }
        )


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    """Yield ``$REDIS_URL`` if it answers, else the URL of a throwaway server."""
    url = os.environ.get("REDIS_URL")
    if url:
        try:
            with redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2) as client:
                client.ping()
        except redis.RedisError as exc:
            say(f"REDIS_URL={mask(url)} does not answer ({exc}): starting a server instead")
        else:
            say(f"server: {mask(url)}, from REDIS_URL")
            yield url
            return
    sys.path.insert(0, str(ROOT))
    from tests.harness import RedisServer, ServerError, ServerNotFoundError  # noqa: PLC0415

    try:
        server = RedisServer()
        server.start()
    except (ServerNotFoundError, ServerError) as exc:
        raise NoServerError(str(exc).splitlines()[0]) from exc
    try:
        say(f"server: a throwaway {server.binary} {server.version} at {server.url}")
        yield server.url
    finally:
        server.cleanup()


class Story:
    """What the demo watches while the consumers work: progress and the recovery."""

    def __init__(self, client: Redis, name: str, total: int) -> None:
        """Watch the queue ``name`` of ``total`` items through ``client``."""
        self.client = client
        self.name = name
        self.total = total
        self.tty = sys.stdout.isatty()
        self.started = time.monotonic()
        self.last_line = 0.0

    async def figures(self) -> tuple[int, int, int, int]:
        """Items handled (distinct), waiting, in flight, and consumers holding items."""
        leases = await self.client.hkeys(f"{self.name}-timeouts")
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hlen(f"{self.name}-done")
            pipe.llen(self.name)
            for processing in leases:
                pipe.llen(processing)
            done, waiting, *held = await pipe.execute()
        return done, waiting, sum(held), sum(1 for n in held if n)

    def progress(self, done: int, waiting: int, in_flight: int, consumers: int) -> None:
        """Print the progress line: overwritten on a terminal, once a second elsewhere."""
        now = time.monotonic()
        if not self.tty and now - self.last_line < 1:
            return
        self.last_line = now
        line = (
            f"progress {done:>7}/{self.total} handled, {waiting:>7} waiting, "
            f"{in_flight:>4} in flight (held by {consumers}), "
            f"{now - self.started:5.1f} s"
        )
        say(f"\r{line}" if self.tty else line, end="" if self.tty else "\n")

    def event(self, text: str) -> None:
        """Print a line of the story, below the progress line."""
        say(f"\r{text:<100}" if self.tty else text)

    async def until_done(self, victim_list: str, killed_at: float) -> float:
        """Show progress until every item is handled and acked; say when the kill is healed.

        Returns:
            Seconds from the kill until its items were taken back by a reaper.
        """
        healed = 0.0
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            done, waiting, in_flight, consumers = await self.figures()
            if not healed and not await self.client.exists(victim_list):
                healed = time.monotonic() - killed_at
                self.event(
                    f"a survivor's reaper recovered the killed consumer's items, {healed:.1f} s "
                    f"after the kill (lease {LEASE_TIMEOUT} s, sweep every {SWEEP_INTERVAL:g} s)"
                )
            finished = healed and done == self.total and not waiting and not in_flight
            if finished:
                self.last_line = 0  # the last figures, always
            self.progress(done, waiting, in_flight, consumers)
            if finished:
                if self.tty:
                    say("")
                return healed
            await asyncio.sleep(0.2)
        msg = f"not every item was handled in {DEADLINE:.0f} s"
        raise DemoError(msg)


async def produce(queue: Queue, first: int, last: int, batch: int) -> None:
    """Add the items ``item-<first>`` to ``item-<last - 1>`` in batches."""
    for start in range(first, last, batch):
        await queue.add_items(f"item-{i}" for i in range(start, min(start + batch, last)))


def start(
    ctx: SpawnContext, url: str, name: str, options: dict[str, float], i: int
) -> tuple[BaseProcess, Connection]:
    """Start consumer process ``i``; return it and the end of its pipe to read."""
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=consumer_process,
        args=(url, name, options, send),
        name=f"consumer-{i}",
        daemon=True,  # killed if the demo itself fails
    )
    process.start()
    return process, receive


def stop(survivors: list[tuple[BaseProcess, Connection]]) -> None:
    """Stop the survivors with SIGTERM (a graceful stop), killing any that does not."""
    processes = [process for process, _ in survivors]
    for process, pipe in survivors:
        # SIGTERM before its Consumer runs would kill it: wait until it says it runs.
        if process.is_alive() and pipe.poll(DEADLINE / 4) and process.pid is not None:
            pipe.recv()
            os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        process.join(DEADLINE / 4)
        if process.is_alive():
            process.kill()
            process.join()
            say(f"{process.name} did not stop on SIGTERM: killed")


def first_batch(victim: BaseProcess, pipe: Connection) -> tuple[str, list[str]]:
    """The processing list of the consumer to kill, and the batch it holds, once it has one."""
    deadline = time.monotonic() + DEADLINE
    while pipe.poll(max(0.0, deadline - time.monotonic())):
        message = pipe.recv()
        if message != "running":
            processing, items = message
            return processing, items
    msg = f"{victim.name} took no batch in {DEADLINE:.0f} s"
    raise DemoError(msg)


def report(process: BaseProcess, pipe: Connection) -> dict[str, float]:
    """The figures a stopped consumer sent."""
    try:
        if pipe.poll(1):
            figures: dict[str, float] = pipe.recv()
            return figures
    except (EOFError, OSError):
        pass
    msg = f"{process.name} stopped without reporting its figures (exit code {process.exitcode})"
    raise DemoError(msg)


async def run(args: argparse.Namespace, url: str, name: str) -> bool:
    """Run the demo on the queue ``name`` and print its summary.

    Returns:
        Whether every item is accounted for.
    """
    ctx = multiprocessing.get_context("spawn")
    options = {"batch": args.batch, "work": args.work_ms / 1000, "victim": 0}
    survivors: list[tuple[BaseProcess, Connection]] = []
    async with Redis.from_url(url, decode_responses=True) as client:
        queue = Queue(name, client)
        story = Story(client, name, args.items)
        victim, victim_pipe = start(ctx, url, name, {**options, "victim": 1}, 0)
        try:
            # The victim alone waits in a blocking get: the first batch is its.
            await produce(queue, 0, min(args.batch, args.items), args.batch)
            victim_list, held = await asyncio.to_thread(first_batch, victim, victim_pipe)
            survivors = [start(ctx, url, name, options, i) for i in range(1, args.consumers)]
            victim.kill()
            killed_at = time.monotonic()
            story.event(
                f"{victim.name} (pid {victim.pid}) killed with SIGKILL, holding {len(held)} items,"
                f" {len(held) // 2} of them handled, none acked"
            )
            await produce(queue, args.batch, args.items, args.batch)
            healed = await story.until_done(victim_list, killed_at)
            elapsed = time.monotonic() - story.started
        finally:
            victim.kill()  # killed already, unless the demo failed before
            victim.join()
            await asyncio.to_thread(stop, survivors)
        reports = [report(process, pipe) for process, pipe in survivors]
        return await account(
            story, args, held=held, reports=reports, elapsed=elapsed, healed=healed
        )


async def account(  # noqa: PLR0913 - the figures of one run
    story: Story,
    args: argparse.Namespace,
    *,
    held: list[str],
    reports: list[dict[str, float]],
    elapsed: float,
    healed: float,
) -> bool:
    """Count every item, print the summary and tell whether all are accounted for."""
    client, name = story.client, story.name
    counts = Counter({item: int(n) for item, n in (await client.hgetall(f"{name}-done")).items()})
    expected = {f"item-{i}" for i in range(args.items)}
    lost = expected - counts.keys()
    twice = {item for item, n in counts.items() if n > 1}
    handled_before_kill = set(held[: len(held) // 2])
    acked = int(sum(report["acked"] for report in reports))
    recovered = int(sum(report["recovered"] for report in reports))
    work = sum(report["work"] for report in reports)
    library = sum(report["library"] for report in reports)
    leftover = await client.llen(name) + await client.hlen(f"{name}-timeouts")
    ok = (
        not lost
        and counts.keys() == expected
        and acked == args.items
        and recovered == len(held)
        and twice <= handled_before_kill
        and max(counts.values(), default=0) <= 2  # noqa: PLR2004 - at most one redelivery
        and not leftover
    )
    survivors = len(reports)
    rows = {
        "items": f"{args.items} added in batches of {args.batch}",
        "consumers": f"{args.consumers} processes; consumer-0 killed holding {len(held)} items",
        "recovered": f"{recovered} by the survivors' reapers, {healed:.1f} s after the kill",
        "acked": f"{acked}, each item once",
        "handled": f"{len(counts)} distinct items, {sum(counts.values())} handler runs",
        "twice": f"{len(twice)}, all handled by consumer-0 before the kill: "
        f"{twice <= handled_before_kill}",
        "lost": len(lost),
        "left over": f"{leftover} (items waiting, consumers holding a lease)",
        "elapsed": f"{elapsed:.1f} s, {args.items / elapsed:.0f} items/s end to end",
        "work": f"{work:.1f} s of simulated work ({args.work_ms:g} ms per item), "
        f"summed over {survivors} consumers",
        "library": f"{library:.2f} s in gets and acks, summed over {survivors} consumers: "
        f"{acked / library:.0f} items/s per consumer, the simulated work left out",
    }
    for label, value in rows.items():
        say(f"{label:<10} {value}")
    say("OK: every item is accounted for" if ok else "FAILED: some items are not accounted for")
    return ok


async def cleanup(url: str, name: str) -> None:
    """Delete the demo's keys: the queue and the keys its (random) name prefixes."""
    async with Redis.from_url(url) as client:
        keys = [name, *[key async for key in client.scan_iter(match=f"{name}-*")]]
        await client.delete(*keys)


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse and check the options (exit code 2 on a bad one)."""
    parser = argparse.ArgumentParser("examples/demo.py", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--items", type=int, default=20_000, help="items to add (20000)")
    parser.add_argument("--consumers", type=int, default=4, help="consumer processes, >= 2 (4)")
    parser.add_argument("--batch", type=int, default=100, help="items per add and get (100)")
    parser.add_argument(
        "--work-ms", type=float, default=1.0, help="simulated work per item, in ms (1)"
    )
    args = parser.parse_args(argv)
    if min(args.items, args.batch) < 1 or args.consumers < 2 or args.work_ms < 0:  # noqa: PLR2004
        parser.error("--items and --batch must be positive, --consumers at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the demo and return the exit code; errors are one line."""
    args = parse(argv)
    name = f"aiopyrq-demo-{uuid.uuid4().hex[:8]}"
    try:
        with redis_url() as url:
            say(f"queue: {name}, {args.consumers} consumers, {args.items} items")
            try:
                ok = asyncio.run(run(args, url, name))
            finally:
                asyncio.run(cleanup(url, name))
    except KeyboardInterrupt:
        say("\ninterrupted")
        return EXIT_INTERRUPTED
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_NO_SERVER if isinstance(exc, NoServerError) else EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - any failure is one line, not a traceback
        print(f"demo: {type(exc).__name__}: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_ERROR
    return 0 if ok else EXIT_LOST


if __name__ == "__main__":
    sys.exit(main())
