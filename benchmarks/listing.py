"""How long `aiopyrq ls` takes on a server holding many structures (standalone and Cluster).

Makes N structures on a throwaway server (by default 1,000: 70% Queues, 15% UniqueQueues,
10% Pools, 5% ShardedQueues of 3 shards), each with items waiting and some in flight or
dead, then runs `aiopyrq ls` and `aiopyrq ls --json` as a user would (a new process each
time) and prints the median wall time of a few runs, and of `aiopyrq --version` (the cost
of starting Python and importing the package) beside it; then, in this process, the
median time of finding the structures (SCAN, TYPE) and of reading their counts::

    .venv/bin/python benchmarks/listing.py [--structures 1000] [--runs 5] [--no-cluster]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import redis.asyncio
import redis.asyncio.cluster

from aiopyrq import Pool, Queue, ShardedQueue, UniqueQueue, _listing, _snapshot

if TYPE_CHECKING:
    from collections.abc import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the checkout's test harness: tests.harness
from tests.harness import ClusterServers, RedisServer  # noqa: E402


async def make(client: redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster, count: int) -> int:
    """Make count structures of every kind; return how many ls should list."""
    for i in range(count):
        share = i % 20
        items = [f"item-{n}" for n in range(10)]
        if share < 14:  # noqa: PLR2004 - 70% Queues
            queue = Queue(f"bench-q-{i}", client, max_deliveries=1)
            await queue.add_items(items)
            await queue.reject_items(await queue.get_items(1))
            await queue.get_items(2)
        elif share < 17:  # noqa: PLR2004 - 15% UniqueQueues
            unique = UniqueQueue(f"bench-u-{i}", client)
            await unique.add_items(items)
            await unique.get_items(1)
        elif share < 19:  # noqa: PLR2004 - 10% Pools
            pool = Pool(f"bench-p-{i}", client, ack_ttl=600)
            await pool.add_items(items)
            await pool.get_items(2)
        else:  # 5% ShardedQueues
            sharded = ShardedQueue(f"bench-s-{i}", client, shards=3)
            await sharded.add_items(items)
            await sharded.get_items(3)
    return count


def timed(url: str, *args: str) -> tuple[float, str]:
    """Run `python -m aiopyrq --url URL args`; its wall time and stdout."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "aiopyrq", "--url", url, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return time.perf_counter() - start, result.stdout


def measure(url: str, expected: int, runs: int) -> dict[str, float]:
    """Median seconds of `--version`, `ls` and `ls --json`; checks every structure is listed."""
    medians = {}
    commands = {"--version": ["--version"], "ls": ["ls"], "ls --json": ["ls", "--json"]}
    for label, args in commands.items():
        times = []
        for _ in range(runs):
            seconds, output = timed(url, *args)
            times.append(seconds)
        if label == "ls --json" and len(json.loads(output)) != expected:
            msg = f"ls listed {len(json.loads(output))} structures, not {expected}"
            raise SystemExit(msg)
        medians[label] = statistics.median(times)
    client = _snapshot.connect(url, decode_responses=True)
    try:
        finds, reads = [], []
        for _ in range(runs):
            start = time.perf_counter()
            targets = _listing.find(client)
            found = time.perf_counter()
            _snapshot.read_targets(client, targets)
            finds.append(found - start)
            reads.append(time.perf_counter() - found)
    finally:
        client.close()
    medians["(find)"] = statistics.median(finds)
    medians["(read)"] = statistics.median(reads)
    return medians


async def fill_standalone(url: str, count: int) -> int:
    """Make the structures on a standalone server."""
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        return await make(client, count)
    finally:
        await client.aclose()


async def fill_cluster(cluster: ClusterServers, count: int) -> int:
    """Make the structures on a Redis Cluster."""
    client = redis.asyncio.cluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, decode_responses=True
    )
    try:
        return await make(client, count)
    finally:
        await client.aclose()


def main() -> None:
    """Measure on a standalone server, then on a Redis Cluster of 3 masters."""

    def listing(url: str, expected: int, runs: int, *, cluster: bool) -> dict[str, float]:
        del cluster  # the command finds out
        return measure(url, expected, runs)

    on_servers(__doc__, listing, report)


class Measure(Protocol):
    """Measures the structures on a server: median seconds by label."""

    def __call__(self, url: str, expected: int, runs: int, *, cluster: bool) -> dict[str, float]:
        """Measure on url, holding expected structures, with runs runs."""


def on_servers(
    doc: str, measure: Measure, report: Callable[[str, dict[str, float], int], None]
) -> None:
    """Make the structures on a standalone server, then on a Redis Cluster, and report each.

    The command line's --structures, --runs and --no-cluster say how many, how often and
    whether on a cluster too.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--structures", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cluster", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    with RedisServer() as server:
        expected = asyncio.run(fill_standalone(server.url, args.structures))
        report(
            "standalone", measure(server.url, expected, args.runs, cluster=False), args.structures
        )
    if args.cluster:
        with ClusterServers() as cluster:
            expected = asyncio.run(fill_cluster(cluster, args.structures))
            report(
                "cluster", measure(cluster.url, expected, args.runs, cluster=True), args.structures
            )


def report(where: str, medians: dict[str, float], structures: int) -> None:
    """One line per command: the median wall time."""
    for label, seconds in medians.items():
        print(f"{where:<10}  {structures} structures  aiopyrq {label:<10}  {seconds:6.2f} s")


if __name__ == "__main__":
    main()
