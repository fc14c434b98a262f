"""One measured workload, run by ``run.py`` in the interpreter of the target under test.

The same file runs under this project's venv and under the original aio-py-rq 4.1.0's venv:
both import as ``aiopyrq`` with the same API. Protocol with ``run.py``: print ``ready`` once
connected, wait for ``go`` on stdin, run, print one JSON line. A consumer process of a
multi-process run also learns from stdin (``done``) that the producer has finished.

Kinds: ``lib`` (the ``aiopyrq`` importable here: Queue, UniqueQueue or Pool; with this
project's, also ShardedQueue) and ``streams`` (a raw Redis Streams consumer group with
redis-py: XADD, XREADGROUP, XACK). ``--consumer`` (latency), ``--runtime`` (throughput) and
``recovery`` run this project's ``aiopyrq.Consumer``; ``--cluster`` connects with a
``RedisCluster`` client. Kind ``sync`` (throughput only) drives this project's sync twin,
``aiopyrq.sync``, with a thread per consumer task (and one for the producer) on one
``redis.Redis`` client.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError
from redis.utils import HIREDIS_AVAILABLE

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

Client = aioredis.Redis | RedisCluster

EMPTY_SLEEP = 0.001  # seconds a throughput consumer that cannot block sleeps after an empty get
EMPTY_WAIT = 0.05  # seconds a throughput consumer that can block waits in an empty queue
BLOCK_WAIT = 1.0  # seconds of a blocking get in the latency workload
ACK_VALID_FOR = 86400  # Pool: an acknowledged item is not due again during the run
HOLD_LIMIT = 60.0  # seconds a recovery workload runs at most (the victim is killed before)
GROUP = "bench"


class Lib:
    """A Queue, UniqueQueue, Pool (or ShardedQueue) of the aiopyrq importable here."""

    def __init__(self, client: Client, structure: str, name: str, shards: int = 1) -> None:
        """Make one structure object: one consumer, with a processing list of its own."""
        import aiopyrq  # noqa: PLC0415  # this project's or the original's, by interpreter

        if structure == "sharded":  # this project's only
            self.obj: Any = aiopyrq.ShardedQueue(name, client, shards=shards)
        else:
            classes = {"queue": aiopyrq.Queue, "unique": aiopyrq.UniqueQueue, "pool": aiopyrq.Pool}
            options = {"ack_valid_for": ACK_VALID_FOR} if structure == "pool" else {}
            self.obj = classes[structure](name, client, **options)
        self.blocking = "wait" in inspect.signature(self.obj.get_items).parameters

    async def setup(self) -> None:
        """Nothing to prepare."""

    async def add(self, items: list[str], delay: float = 0.0) -> None:
        """Add a batch in one call; with a delay, due that many seconds later."""
        options = {"delay": delay} if delay else {}  # the original has no delay
        await self.obj.add_items(items, **options)

    async def get(self, count: int, wait: float = 0.0) -> tuple[list[str], Any]:
        """Get up to count items, blocking up to ``wait`` seconds if the library can."""
        if wait and self.blocking:
            items = await self.obj.get_items(count, wait=wait)
        else:
            items = await self.obj.get_items(count)
        return items, items

    async def ack(self, token: Any) -> None:  # noqa: ANN401
        """Acknowledge a batch in one call."""
        await self.obj.ack_items(token)

    async def waiting(self) -> int:
        """Return the items in the structure."""
        return int(await self.obj.get_count())


class Streams:
    """A Redis Streams consumer group: XADD in a pipeline, XREADGROUP COUNT n, XACK."""

    blocking = True

    def __init__(self, client: aioredis.Redis, key: str, consumer: str) -> None:
        """One consumer of the group ``bench`` of the stream ``key``."""
        self.client, self.key, self.consumer = client, key, consumer

    async def setup(self) -> None:
        """Create the group (and the stream) unless another process did."""
        try:
            await self.client.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def add(self, items: list[str]) -> None:
        """XADD each item, all in one pipeline."""
        pipe = self.client.pipeline(transaction=False)
        for item in items:
            pipe.xadd(self.key, {"v": item})
        await pipe.execute()

    async def get(self, count: int, wait: float = 0.0) -> tuple[list[str], Any]:
        """XREADGROUP new entries; the token is their ids."""
        block = int(wait * 1000) if wait else None
        reply: Any = await self.client.xreadgroup(
            GROUP, self.consumer, {self.key: ">"}, count=count, block=block
        )
        entries = reply[0][1] if reply else []
        return [fields["v"] for _, fields in entries], [entry_id for entry_id, _ in entries]

    async def ack(self, token: Any) -> None:  # noqa: ANN401
        """XACK the batch."""
        await self.client.xack(self.key, GROUP, *token)

    async def waiting(self) -> int:
        """Return the entries in the stream."""
        return int(await self.client.xlen(self.key))


Backend = Lib | Streams
"""What a workload drives: add, get (values, and the token ack needs), ack."""


def make(args: argparse.Namespace, client: Client, index: int) -> Backend:
    """The target for one task (index -1 is the producer)."""
    if args.kind == "streams":
        return Streams(client, args.name, f"consumer-{args.role}-{index}")
    return Lib(client, args.structure, args.name, args.shards)


async def consume(
    target: Backend, batch: int, done: asyncio.Event, got: list[str]
) -> dict[str, Any]:
    """Get and ack until an empty get after the producer has finished."""
    empty, last, finishing = 0, time.time(), False
    while True:
        # While the producer runs, an empty queue is waited for as each library's users
        # would: blocking where the library can, polling every EMPTY_SLEEP where it cannot.
        values, token = await target.get(batch, 0.0 if done.is_set() else EMPTY_WAIT)
        if values:
            await target.ack(token)
            got.extend(values)
            last = time.time()
        elif finishing:
            return {"empty_gets": empty, "t_last": last}
        else:
            empty += 1
            finishing = done.is_set()  # no more adds: the next empty get ends the task
            if not finishing and not target.blocking:
                await asyncio.sleep(EMPTY_SLEEP)


async def run_runtime(
    target: Backend, concurrency: int, items: int, got: list[str]
) -> dict[str, Any]:
    """This project's Consumer, a no-op handler, until every item was handled; then stop.

    ``t_last`` is when ``run()`` returned: the Consumer's last ack is in the window.
    """
    import aiopyrq  # noqa: PLC0415  # this project's only

    async def handle(value: str) -> None:
        got.append(value)
        if len(got) == items:
            runtime.stop()

    assert isinstance(target, Lib)  # noqa: S101
    runtime = aiopyrq.Consumer(target.obj, handle, concurrency=concurrency, wait=EMPTY_WAIT)
    asyncio.get_running_loop().call_later(HOLD_LIMIT, runtime.stop)  # lost items: run.py tells
    await runtime.run(handle_signals=False)
    return {"empty_gets": 0, "t_last": time.time()}


async def produce(target: Backend, ids: list[str], batch: int, done: asyncio.Event) -> None:
    """Add all ids, ``batch`` per call, then say so."""
    for start in range(0, len(ids), batch):
        await target.add(ids[start : start + batch])
    done.set()


async def wait_for_line(event: asyncio.Event) -> None:
    """Set the event once run.py writes a line on stdin."""
    await asyncio.to_thread(sys.stdin.readline)
    event.set()


async def throughput(args: argparse.Namespace, client: Client) -> dict[str, Any]:
    """Producer and/or consumer tasks; consumers report every id they got."""
    ids = [str(i) for i in range(args.items)]
    done, got = asyncio.Event(), list[str]()
    consumers = (
        [make(args, client, i) for i in range(args.tasks)] if args.role != "producer" else []
    )
    producer = make(args, client, -1)
    await start(producer)
    cpu = time.process_time()
    tasks: list[Coroutine[Any, Any, dict[str, Any] | None]]
    if args.runtime:  # one aiopyrq.Consumer instead of the tasks' own loops
        tasks = [run_runtime(consumers[0], args.runtime, args.items, got)]
    else:
        tasks = [consume(target, args.get_batch, done, got) for target in consumers]
    if args.role == "consumer":  # a separate producer: run.py writes "done" when it finished
        tasks.append(wait_for_line(done))
    else:
        tasks.append(produce(producer, ids, args.add_batch, done))
    stats = [s for s in await asyncio.gather(*tasks) if s]
    return {
        "received": got,
        "t_last": max([s["t_last"] for s in stats], default=time.time()),
        "empty_gets": sum(s["empty_gets"] for s in stats),
        "cpu_s": time.process_time() - cpu,
    }


async def latency(args: argparse.Namespace, client: Client) -> dict[str, Any]:
    """One item every ``interval`` seconds to one waiting consumer; add-to-get delays."""
    producer, consumer = make(args, client, -1), make(args, client, 0)
    mode = "poll" if not consumer.blocking else "BLOCK" if args.kind == "streams" else "wait"
    mode = "Consumer" if args.consumer else mode
    sent: dict[str, float] = {}
    delays: list[float] = []
    received: list[str] = []
    await start(producer)

    async def produce_slowly() -> None:
        begin = time.perf_counter()
        for i in range(args.items):
            await asyncio.sleep(max(0.0, begin + i * args.interval - time.perf_counter()))
            sent[str(i)] = time.perf_counter() + args.delay  # due then, or a bit later
            if args.delay:
                assert isinstance(producer, Lib)  # noqa: S101
                await producer.add([str(i)], args.delay)
            else:
                await producer.add([str(i)])

    limit = args.idle + args.items * args.interval + args.delay + 10

    async def wait_for_items() -> None:
        deadline = time.monotonic() + limit
        while len(received) < args.items and time.monotonic() < deadline:  # lost: run.py tells
            values, token = await consumer.get(100, 0.0 if mode == "poll" else BLOCK_WAIT)
            now = time.perf_counter()
            if not values:
                if mode == "poll":
                    await asyncio.sleep(args.poll_interval)
                continue
            delays.extend(now - sent[value] for value in values)
            received.extend(values)
            await consumer.ack(token)

    def arrived(value: str) -> None:  # in the Consumer's handler
        delays.append(time.perf_counter() - sent[value])
        received.append(value)

    waiter = asyncio.create_task(
        run_consumer(consumer, arrived, args.items, limit) if args.consumer else wait_for_items()
    )
    await asyncio.sleep(0.1)  # the consumer is waiting; now count its calls while idle
    idle_calls = -await calls(client)
    await asyncio.sleep(args.idle)
    idle_calls += await calls(client)
    await asyncio.gather(produce_slowly(), waiter)
    delays.sort()
    return {
        "mode": mode,
        "idle_calls": idle_calls,
        "received": received,
        "p50_ms": 1000 * delays[len(delays) // 2],
        "p99_ms": 1000 * delays[min(len(delays) - 1, int(len(delays) * 0.99))],
        "min_ms": 1000 * delays[0],
        "max_ms": 1000 * delays[-1],
    }


async def run_consumer(
    target: Backend, arrived: Callable[[str], None], items: int, limit: float
) -> None:
    """Run this project's Consumer (wait=1, else defaults) until ``items`` items arrived."""
    import aiopyrq  # noqa: PLC0415  # this project's only

    count = 0

    async def handle(value: str) -> None:  # entered with one item
        nonlocal count
        arrived(value)
        count += 1
        if count == items:
            runtime.stop()

    assert isinstance(target, Lib)  # noqa: S101
    runtime = aiopyrq.Consumer(target.obj, handle, wait=BLOCK_WAIT)
    asyncio.get_running_loop().call_later(limit, runtime.stop)  # lost items: run.py tells
    await runtime.run()


async def recovery(args: argparse.Namespace, client: Client) -> dict[str, Any]:
    """A Consumer with short leases, killed by run.py (victim) or recovering (survivor).

    The victim adds the items, takes them all in one batch and holds them (its handler
    blocks) until run.py kills it; it prints the batch and its processing list's name. The
    survivor, started once the victim holds the batch, handles what comes until it has
    every item; it reports the unix time it entered its handler last.
    """
    import aiopyrq  # noqa: PLC0415  # this project's only

    queue = aiopyrq.Queue(args.name, client)
    received: list[str] = []
    entered: list[float] = []

    async def hold(items: list[str]) -> None:
        holding = {"holding": items, "processing": queue.processing_queue_name}
        print(json.dumps(holding), flush=True)
        await asyncio.sleep(HOLD_LIMIT)  # killed long before

    async def handle(items: list[str]) -> None:
        entered.append(time.time())
        received.extend(items)
        if len(received) >= args.items:
            runtime.stop()

    runtime = aiopyrq.Consumer(
        queue,
        hold if args.role == "victim" else handle,
        batch=True,
        batch_size=args.items,
        wait=BLOCK_WAIT,
        lease_timeout=args.lease_timeout,
        sweep_interval=args.sweep_interval,
    )
    if args.role == "victim":
        await queue.add_items([str(i) for i in range(args.items)])
    else:
        print("ready", flush=True)
    asyncio.get_running_loop().call_later(HOLD_LIMIT, runtime.stop)
    await runtime.run()
    return {
        "received": received,
        "t_handled": max(entered, default=0.0),
        "recovered": runtime.stats.recovered,
    }


async def calls(client: Client) -> int:
    """Commands the server ran so far, INFO left out."""
    info = await client.info("commandstats")
    return sum(v["calls"] for k, v in info.items() if k != "cmdstat_info")


async def fill(args: argparse.Namespace, client: Client) -> dict[str, Any]:
    """Add items, 100 per call, and leave them waiting."""
    target = make(args, client, -1)
    await start(target)
    ids = [str(i) for i in range(args.items)]
    for begin in range(0, len(ids), args.add_batch):
        await target.add(ids[begin : begin + args.add_batch])
    return {"added": len(ids), "waiting": await target.waiting()}


async def start(target: Backend) -> None:
    """Prepare, say ``ready``, and wait for ``go``: run.py starts its window in between."""
    await target.setup()
    print("ready", flush=True)
    sys.stdin.readline()


async def main(args: argparse.Namespace) -> None:
    """Run the workload and print its JSON line."""
    client: Client
    if args.cluster:
        client = RedisCluster.from_url(args.url, decode_responses=True)
    else:
        client = aioredis.Redis.from_url(args.url, decode_responses=True)
    await client.ping()
    modes = {"throughput": throughput, "latency": latency, "fill": fill, "recovery": recovery}
    result = await modes[args.mode](args, client)
    result |= {"redis_py": redis.__version__, "hiredis": HIREDIS_AVAILABLE}
    print(json.dumps(result), flush=True)
    await client.aclose()


class SyncLib:
    """A Queue, UniqueQueue or Pool of this project's sync twin, driven from threads."""

    blocking = True

    def __init__(self, client: redis.Redis, structure: str, name: str) -> None:
        """Make one structure object: one consumer, with a processing list of its own."""
        import aiopyrq.sync  # noqa: PLC0415 - this project's only

        classes = {
            "queue": aiopyrq.sync.Queue,
            "unique": aiopyrq.sync.UniqueQueue,
            "pool": aiopyrq.sync.Pool,
        }
        options = {"ack_valid_for": ACK_VALID_FOR} if structure == "pool" else {}
        self.obj: Any = classes[structure](name, client, **options)

    def add(self, items: list[str]) -> None:
        """Add a batch in one call."""
        self.obj.add_items(items)

    def get(self, count: int, wait: float = 0.0) -> list[str]:
        """Get up to count items, blocking up to ``wait`` seconds."""
        return list(self.obj.get_items(count, wait=wait or None))

    def ack(self, items: list[str]) -> None:
        """Acknowledge a batch in one call."""
        self.obj.ack_items(items)


def consume_sync(
    target: SyncLib, batch: int, done: threading.Event, got: list[str]
) -> dict[str, Any]:
    """``consume`` in a thread: get and ack until an empty get after the producer finished."""
    empty, last, finishing = 0, time.time(), False
    while True:
        values = target.get(batch, 0.0 if done.is_set() else EMPTY_WAIT)
        if values:
            target.ack(values)
            got.extend(values)  # list.extend holds the GIL: threads may share the list
            last = time.time()
        elif finishing:
            return {"empty_gets": empty, "t_last": last}
        else:
            empty += 1
            finishing = done.is_set()


def throughput_sync(args: argparse.Namespace) -> dict[str, Any]:
    """``throughput`` with the sync twin: a thread per consumer task and for the producer."""
    client = redis.Redis.from_url(args.url, decode_responses=True)
    client.ping()
    ids = [str(i) for i in range(args.items)]
    done, got, stats = threading.Event(), list[str](), list[dict[str, Any]]()
    consumers = (
        [SyncLib(client, args.structure, args.name) for _ in range(args.tasks)]
        if args.role != "producer"
        else []
    )
    producer = SyncLib(client, args.structure, args.name)

    def produce() -> None:
        for begin in range(0, len(ids), args.add_batch):
            producer.add(ids[begin : begin + args.add_batch])
        done.set()

    def wait_for_done() -> None:  # a separate producer: run.py writes "done" when it finished
        sys.stdin.readline()
        done.set()

    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    threads = [
        threading.Thread(
            target=lambda c=c: stats.append(consume_sync(c, args.get_batch, done, got))
        )
        for c in consumers
    ]
    threads.append(threading.Thread(target=wait_for_done if args.role == "consumer" else produce))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    return {
        "received": got,
        "t_last": max([s["t_last"] for s in stats], default=time.time()),
        "empty_gets": sum(s["empty_gets"] for s in stats),
        "cpu_s": time.process_time() - cpu,
        "redis_py": redis.__version__,
        "hiredis": HIREDIS_AVAILABLE,
    }


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse the command line that run.py builds."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["throughput", "latency", "fill", "recovery"])
    parser.add_argument("--kind", choices=["lib", "streams", "sync"], default="lib")
    structures = ["queue", "unique", "pool", "sharded"]
    parser.add_argument("--structure", choices=structures, default="queue")
    roles = ["all", "producer", "consumer", "victim", "survivor"]
    parser.add_argument("--role", choices=roles, default="all")
    parser.add_argument("--url", required=True)
    parser.add_argument("--cluster", action="store_true", help="connect with RedisCluster")
    parser.add_argument("--shards", type=int, default=3, help="sharded: ShardedQueue shards")
    parser.add_argument("--consumer", action="store_true", help="latency: via aiopyrq.Consumer")
    parser.add_argument(
        "--runtime", type=int, default=0, help="throughput: a Consumer of this concurrency"
    )
    parser.add_argument("--lease-timeout", type=int, default=1, help="recovery: seconds")
    parser.add_argument("--sweep-interval", type=float, default=1.0, help="recovery: seconds")
    parser.add_argument("--name", required=True, help="key name (fresh for each workload)")
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--tasks", type=int, default=4, help="consumer tasks in this process")
    parser.add_argument("--add-batch", type=int, default=100)
    parser.add_argument("--get-batch", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.005, help="latency: between adds")
    parser.add_argument("--poll-interval", type=float, default=0.01, help="latency: poll sleep")
    parser.add_argument("--idle", type=float, default=1.0, help="latency: idle time counted")
    parser.add_argument("--delay", type=float, default=0.0, help="latency: items added delayed")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    if arguments.kind == "sync":
        print(json.dumps(throughput_sync(arguments)), flush=True)
    else:
        asyncio.run(main(arguments))
