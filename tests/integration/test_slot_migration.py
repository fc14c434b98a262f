"""Producers and Consumers keep going while a slot moves between masters: every item once.

On a cluster of its own, a ShardedQueue and a Queue share one hash slot (the Queue's name
carries the shard's hash tag). Producers add batches and Consumers take, handle and ack,
while that slot moves to another master and back, twice, key batch by key batch
(``tests.harness.migrate_slot``): calls meet ASK, TRYAGAIN (a script's keys split between
the two masters, or new keys in an open slot) and MOVED. Every item is counted: handled
exactly once (no consumer dies), acked, and nothing left in a queue or processing list.

No call may fail because its slot moves. redis-py's cluster client, when MOVED replies make
it rebuild its slot map, closes the connections other tasks are using; a call may then fail
with a ConnectionError, as when a master goes away. Those are counted and shown: the
Consumer gives back what a failed get may have taken, and tries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest
import redis.crc
from redis.asyncio.cluster import RedisCluster

from aiopyrq import Consumer, Queue, ShardedQueue
from tests.harness import ClusterServers, migrate_slot
from tests.helpers import data_keys, until

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(300)]

SHARDS = 3
BATCH = 20  # items per add
MOST_BATCHES = 300  # per producer: the producers' bound, whatever the migrations take
MOVES = 2  # there and back, MOVES times
REDIRECTIONS = ("MOVED", "ASK", "TRYAGAIN")
DROPPED = redis.exceptions.ConnectionError  # a connection redis-py closed: see above


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[ClusterServers]:
    """A cluster of the test's own: its slots move, and its error counts are the test's."""
    with ClusterServers(masters=3, replicas=1) as cluster:
        yield cluster


def redirections(cluster: ClusterServers) -> Counter[str]:
    """How many MOVED, ASK and TRYAGAIN replies the masters sent since their stats reset."""
    found: Counter[str] = Counter()
    for master in cluster.masters:
        with redis.Redis(master.host, master.port, decode_responses=True) as client:
            stats = client.info("errorstats")
        for kind in REDIRECTIONS:
            found[kind] += stats.get(f"errorstat_{kind}", {}).get("count", 0)
    return found


def reset_stats(cluster: ClusterServers) -> None:
    for master in cluster.masters:
        with redis.Redis(master.host, master.port) as client:
            client.config_resetstat()


async def keys_of(client: RedisCluster, name: str) -> list[str]:
    """The data keys of every structure named after ``name``, on every master.

    Without the recovery locks: each expires a sweep interval after the last recovery.
    """
    keys = await client.keys(f"*{name}*", target_nodes=RedisCluster.PRIMARIES)
    return [key for key in data_keys(keys) if not key.endswith("-recovery-lock")]


def failures(caplog, producer_errors) -> tuple[int, list[str]]:
    """How many calls failed on a connection redis-py closed; what else failed."""
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    others = [r.getMessage() for r in errors if not isinstance(r.exc_info[1], DROPPED)]
    others += [repr(e) for e in producer_errors if not isinstance(e, DROPPED)]
    closed = sum(isinstance(r.exc_info[1], DROPPED) for r in errors)
    return closed + sum(isinstance(e, DROPPED) for e in producer_errors), others


async def produce(structure, produced: list[str], errors: list, moved: asyncio.Event) -> None:
    """Add batches until the slot has moved (at least 10), at most MOST_BATCHES."""
    prefix = type(structure).__name__
    for number in range(MOST_BATCHES):
        if moved.is_set() and number >= 10:
            return
        batch = [f"{prefix}-{number}-{i}" for i in range(BATCH)]
        while True:  # a call that fails is counted, then made again
            try:
                await structure.add_items(batch)
                break
            except Exception as error:  # noqa: BLE001 - counted, asserted on by the test
                errors.append(error)
                await asyncio.sleep(0.05)
        produced.extend(batch)
        await asyncio.sleep(0.02)


async def test_items_handled_once_while_a_slot_moves(own_cluster, caplog):
    """Two slot moves there and back under live producers and Consumers: each item once."""
    caplog.set_level(logging.ERROR, logger="aiopyrq")
    name = f"moving-{uuid4().hex[:12]}"
    moving = 1  # the shard whose slot moves; the Queue shares its hash tag
    slot = redis.crc.key_slot(f"{name}:{moving}".encode())
    home = own_cluster.master_of(slot)
    away = next(master for master in own_cluster.masters if master is not home)
    queue_name = f"{{{name}:{moving}}}-plain"
    assert redis.crc.key_slot(queue_name.encode()) == slot
    clients = [
        RedisCluster(startup_nodes=own_cluster.startup_nodes, decode_responses=True)
        for _ in range(5)
    ]
    handled: Counter[str] = Counter()
    produced: list[str] = []
    producer_errors: list[BaseException] = []
    moved = asyncio.Event()

    async def handle(item: str) -> None:
        handled[item] += 1
        await asyncio.sleep(0.001)

    async def migrate() -> list[float]:
        seconds = []
        for _ in range(MOVES):
            for target in (away, home):
                await asyncio.sleep(0.3)
                done = await asyncio.to_thread(migrate_slot, own_cluster, slot, target, spread=1.5)
                assert done.keys > 0, "the slot held no key: nothing was migrating"
                seconds.append(done.seconds)
        moved.set()
        return seconds

    consumers = [
        Consumer(structure, handle, batch_size=20, concurrency=5, wait=0.5)
        for structure in (
            ShardedQueue(name, clients[2], shards=SHARDS),
            ShardedQueue(name, clients[3], shards=SHARDS),
            Queue(queue_name, clients[2]),
            Queue(queue_name, clients[3]),
        )
    ]
    await asyncio.gather(*(c.initialize() for c in clients))
    reset_stats(own_cluster)
    running = [asyncio.create_task(c.run(handle_signals=False)) for c in consumers]
    try:
        *_, seconds = await asyncio.gather(
            produce(
                ShardedQueue(name, clients[0], shards=SHARDS), produced, producer_errors, moved
            ),
            produce(Queue(queue_name, clients[1]), produced, producer_errors, moved),
            migrate(),
        )
        await until(lambda: handled.total() >= len(produced), "every item handled", timeout=60)
        await until(
            lambda: sum(c.stats.acked for c in consumers) >= len(produced),
            "every item acked",
            timeout=30,
        )
    finally:
        for consumer in consumers:
            consumer.stop()
        await asyncio.gather(*running, return_exceptions=True)
    met = redirections(own_cluster)
    left = await keys_of(clients[4], name)
    closed, others = failures(caplog, producer_errors)
    acked = sum(c.stats.acked for c in consumers)
    print(  # noqa: T201 - the counts of the run, shown with -s
        f"slot {slot}: {len(seconds)} migrations ({', '.join(f'{s:.1f}' for s in seconds)} s"
        f" open), {len(produced)} items, {handled.total()} handled, {len(handled)} distinct,"
        f" {acked} acked, {dict(met)} replies met, {closed} calls failed on a connection"
        f" redis-py closed, other failures {others[:3]}, keys left {left}"
    )
    try:
        assert handled == Counter(produced), "an item lost or handled twice"
        assert acked == len(produced)
        assert left == [], "items left in a queue or a processing list"
        assert others == [], "a call failed during the migration"
        assert met["ASK"] + met["TRYAGAIN"] > 0, "no call met the migration"
    finally:
        for one in clients:
            await one.aclose()
