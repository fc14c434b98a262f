"""Redis Cluster: all keys of a structure in one slot, every operation, WAIT, failover.

The session's ``cluster`` (3 masters, a replica each) serves every test but the failover
one, which kills a master of a cluster of its own. Names here have no hash tag unless a
test gives one: on a RedisCluster client the library wraps them in one (``{name}``).
"""

from __future__ import annotations

import asyncio
import time
from uuid import uuid4

import pytest
import redis.asyncio
from redis.asyncio.cluster import RedisCluster

from aiopyrq import Consumer, NotEnoughSyncedSlavesError, Pool, Queue, UniqueQueue
from tests.failover_run import run_through_failover
from tests.harness import ClusterServers
from tests.helpers import age_lease, data_keys

pytestmark = pytest.mark.redis

KINDS = {"queue": Queue, "unique": UniqueQueue}
BOUND = 10  # seconds: the bound of any wait


@pytest.fixture
def plain() -> str:
    """A name without a hash tag, no other test uses."""
    return f"plain-{uuid4().hex[:12]}"


def cluster_client(cluster: ClusterServers) -> RedisCluster:
    """A RedisCluster client of the cluster, decoding replies."""
    return RedisCluster(startup_nodes=cluster.startup_nodes, decode_responses=True)


async def initialized(clients: list[RedisCluster]) -> None:
    """Let each client learn the cluster before tasks use it at once.

    redis-py 8.1's cluster client, initialized by concurrent first commands, may close
    connections other tasks are using; a get whose reply is lost that way leaves its
    items held by a live consumer (test_sharded.py shows that on its own).
    """
    await asyncio.gather(*(client.initialize() for client in clients))


@pytest.fixture
async def cc(cluster):
    """A RedisCluster client of the session's cluster."""
    client = cluster_client(cluster)
    try:
        yield client
    finally:
        await client.aclose()


async def keys_on(server, pattern: str) -> set[str]:
    """The data keys matching pattern on one node, asked directly (no call replies)."""
    async with redis.asyncio.Redis.from_url(server.url, decode_responses=True) as node:
        return set(data_keys(await node.keys(pattern)))


async def replica_of(cluster, master):
    """A client of master's replica that may read (READONLY), on one connection."""
    replica = cluster.replicas[cluster.masters.index(master)]
    client = redis.asyncio.Redis.from_url(
        replica.url, decode_responses=True, single_connection_client=True
    )
    await client.execute_command("READONLY")
    return client


def name_on(cluster, master, prefix: str) -> str:
    """A name without a hash tag whose slot the master serves."""
    return next(
        name
        for name in (f"{prefix}-{i}" for i in range(10_000))
        if cluster.master_of(name) is master
    )


# Key layout


async def test_name_without_hash_tag_gets_one(cluster, cc, plain):
    """On a cluster every key of a plain name starts with {name}, all on its slot's master."""
    tag = f"{{{plain}}}"
    queue = UniqueQueue(plain, cc, max_deliveries=2, max_retry=1, max_timeout=1)
    assert queue.name == plain
    assert queue.processing_queue_name == f"{tag}-processing-{queue.client_id}"
    assert queue.timeouts_hash_name == f"{tag}-timeouts"
    assert queue.set_name == f"{tag}-unique"

    await queue.add_items(["a", "b", "c"])
    for _ in range(2):  # a is rejected twice: a dead letter
        assert await queue.get_items(1) == ["a"]
        await queue.reject_item("a")
    assert await queue.get_items(1) == ["b"]
    await queue.reject_item("b")  # one delivery of b counted
    assert await queue.get_items(2) == ["b", "c"]
    await queue.add_item("d")
    assert await queue.can_rollback_item("b")
    assert await queue.recover(lease_timeout=30, interval=60) == 0

    expected = {
        tag,
        f"{tag}-unique",
        f"{tag}-processing-{queue.client_id}",
        f"{tag}-timeouts",
        f"{tag}-deliveries",
        f"{tag}-dead",
        f"{tag}-dead-records",
        f"{tag}-retry-count",
        f"{tag}-retry-timeout",
        f"{tag}-recovery-lock",
    }
    master = cluster.master_of(tag)
    assert await keys_on(master, f"*{plain}*") == expected
    for other in cluster.masters:
        if other is not master:
            assert await keys_on(other, f"*{plain}*") == set()
    assert {cc.keyslot(key) for key in expected} == {cc.keyslot(plain)}
    await cc.delete(*expected)


async def test_pool_name_without_hash_tag_gets_one(cluster, cc, plain):
    """A Pool's sorted set and wake-up list are {name} and {name}-wakeup, on one master."""
    pool = Pool(plain, cc)
    waiting = asyncio.create_task(pool.get_items(1, wait=BOUND))
    await asyncio.sleep(0.2)
    await pool.add_items(["a", "b"])
    assert await asyncio.wait_for(waiting, BOUND) in (["a"], ["b"])
    keys = await keys_on(cluster.master_of(plain), f"*{plain}*")
    assert f"{{{plain}}}" in keys
    assert keys <= {f"{{{plain}}}", f"{{{plain}}}-wakeup"}
    assert await cc.zcard(f"{{{plain}}}") == 2
    await pool.clear_pool()
    assert await keys_on(cluster.master_of(plain), f"*{plain}*") == set()


async def test_name_with_hash_tag_is_used_as_is(cluster, cc, plain):
    """A name with a hash tag of its own keeps it: every key is NAME..., in the tag's slot."""
    name = f"jobs:{{{plain}}}:mail"
    queue = Queue(name, cc)
    assert queue.processing_queue_name == f"{name}-processing-{queue.client_id}"
    await queue.add_items(["a", "b"])
    assert await queue.get_items(1) == ["a"]
    expected = {name, f"{name}-processing-{queue.client_id}", f"{name}-timeouts"}
    assert await keys_on(cluster.master_of(plain), f"*{plain}*") == expected
    assert {cc.keyslot(key) for key in expected} == {cc.keyslot(plain)}
    await cc.delete(*expected)


async def test_standalone_names_unchanged(client, plain):
    """On a standalone server the keys are the original library's: no hash tag added."""
    queue = UniqueQueue(plain, client)
    await queue.add_items(["a", "b"])
    assert await queue.get_items(1) == ["a"]
    expected = {plain, f"{plain}-unique", f"{plain}-processing-{queue.client_id}"}
    assert set(data_keys(await client.keys(f"*{plain}*"))) == {*expected, f"{plain}-timeouts"}
    await client.delete(*expected, f"{plain}-timeouts")


# Every operation on the cluster, names without a hash tag


@pytest.mark.parametrize("kind", KINDS)
async def test_every_queue_operation(cc, plain, kind):
    """Queue and UniqueQueue: add, get, ack, reject, delete, recovery, dead letters, rollbacks."""
    make = KINDS[kind]
    first, second = make(plain, cc), make(plain, cc)
    await first.add_items([f"i{n}" for n in range(10)])
    await first.add_item("i10")
    assert await first.get_count() == 11
    assert await first.get_items(3) == ["i0", "i1", "i2"]
    await first.ack_item("i0")
    await first.ack_items(["i1"])
    assert await first.reject_items(["i2"]) == 0
    await first.delete_item("i10")
    await first.delete_items(["i9"])
    assert await first.get_count() == 7

    assert await first.get_items(2) == ["i2", "i3"]
    await first.heartbeat()
    assert await second.get_items(2) == ["i4", "i5"]
    await age_lease(first, 7201, cc)
    assert await second.re_enqueue_timeout_items() == 2
    assert await second.re_enqueue_all_items() == 2
    assert await first.get_items(1) == ["i4"]
    await age_lease(first, 7201, cc)
    assert await second.drop_timeout_items() == 1
    assert await first.get_items(1) == ["i5"]
    assert await second.drop_all_items() == 1
    assert await first.get_items(1) == ["i2"]
    assert await first.release() == 1

    dead_letters = make(plain, cc, max_deliveries=1)
    assert await dead_letters.get_items(1) == ["i2"]
    assert await dead_letters.reject_item("i2") == 1
    assert await first.get_dead_count() == 1
    assert await first.get_dead_items() == ["i2"]
    assert await first.requeue_dead_items() == 1  # at the end of the queue
    assert await first.get_items(1) == ["i3"]
    await age_lease(first, 60, cc)
    assert await second.recover(lease_timeout=30, interval=60) == 1
    assert await first.recover(lease_timeout=30, interval=60) == 0  # the lock is taken

    rollback = make(plain, cc, max_retry=0, max_timeout=0)
    assert await rollback.can_rollback_item("i3")
    await cc.hset(rollback.retry_timeout_name, "i3", 0)
    assert not await rollback.can_rollback_item("i3")
    await rollback.reset_blocked_item("i3")
    assert await rollback.can_rollback_item("i3")
    await rollback.reset_blocked_item("i3")

    assert await first.get_items(10) == ["i3", "i6", "i7", "i8", "i2"]
    await first.ack_items(["i3", "i6", "i7", "i8", "i2"])
    assert await first.get_dead_count() == 0
    assert await first.purge_dead_items() == 0
    await cc.delete(first.keys.recovery_lock)
    assert data_keys(await cc.keys(f"*{plain}*", target_nodes=RedisCluster.PRIMARIES)) == []


@pytest.mark.parametrize("kind", KINDS)
async def test_waiting_get(cc, plain, kind):
    """A waiting get returns when an item comes, and [] after its wait when none does."""
    make = KINDS[kind]
    consumer, producer = make(plain, cc), make(plain, cc)
    assert await consumer.get_items(5, wait=0.3) == []
    waiting = asyncio.create_task(consumer.get_items(5, wait=BOUND))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await producer.add_items(["a", "b"])
    assert await asyncio.wait_for(waiting, BOUND) == ["a", "b"]
    await consumer.ack_items(["a", "b"])
    assert data_keys(await cc.keys(f"*{plain}*", target_nodes=RedisCluster.PRIMARIES)) == []


async def test_every_pool_operation(cc, plain):
    """Pool: add, counts, get, get_all, ack, remove, delete, clear, a waiting get."""
    pool = Pool(plain, cc, chunk_size=2, ack_valid_for=0)
    await pool.add_item("a")
    await pool.add_items(["b", "c", "d"])
    assert await pool.get_count() == 4
    assert await pool.get_count_to_process() == 4
    assert await pool.is_in_pool("a")
    assert sorted(await pool.get_items(2)) == ["a", "b"]
    assert sorted(await pool.get_all_items()) == ["c", "d"]
    assert await pool.get_count_to_process() == 0
    await pool.ack_item("a")
    await pool.ack_items(["b"])
    await pool.remove_item("c")
    await pool.remove_items(["d"])
    assert await pool.get_count() == 2
    await pool.delete_item("a")
    assert sorted(await pool.get_items(5, wait=1)) == ["b"]
    await pool.delete_items(["b"])
    waiting = asyncio.create_task(pool.get_items(1, wait=BOUND))
    await asyncio.sleep(0.2)
    await pool.add_item("e")
    assert await asyncio.wait_for(waiting, BOUND) == ["e"]
    await pool.clear_pool()
    assert await pool.get_count() == 0


async def test_reset_blocked_item_first_on_a_new_client(cluster, plain):
    """reset_blocked_item as the first call of a new RedisCluster client leaves it usable."""
    client = cluster_client(cluster)
    try:
        queue = Queue(plain, client, max_retry=0, max_timeout=0)
        await queue.reset_blocked_item("a")
        await queue.add_item("a")
        assert await queue.get_items(1) == ["a"]
        await queue.ack_item("a")
    finally:
        await client.aclose()


@pytest.mark.parametrize("kind", KINDS)
async def test_consumers_on_the_cluster(cluster, plain, kind):
    """Three Consumers, each with a client of its own, handle every item once."""
    clients = [cluster_client(cluster) for _ in range(3)]
    items = [f"item-{i}" for i in range(300)]
    handled = []
    failed_once = set()

    async def handle(item: str) -> None:
        if item.endswith("7") and item not in failed_once:  # fails once: rejected, again
            failed_once.add(item)
            msg = f"first try of {item}"
            raise RuntimeError(msg)
        handled.append(item)
        if len(handled) == len(items):
            for consumer in consumers:
                consumer.stop()

    try:
        await initialized(clients)
        queues = [KINDS[kind](plain, client) for client in clients]
        consumers = [
            Consumer(queue, handle, concurrency=4, batch_size=10, wait=0.5) for queue in queues
        ]
        await queues[0].add_items(items)
        await asyncio.wait_for(
            asyncio.gather(*(c.run(handle_signals=False) for c in consumers)), 30
        )
        assert sorted(handled) == sorted(items)
        assert sum(c.stats.acked for c in consumers) == len(items)
        assert sum(c.stats.failed for c in consumers) == len(failed_once) == 30
        left = data_keys(await clients[0].keys(f"*{plain}*", target_nodes=RedisCluster.PRIMARIES))
        assert set(left) <= {f"{{{plain}}}-recovery-lock"}  # expires by itself
    finally:
        for client in clients:
            await client.aclose()


# WAIT on the cluster: on the connection of the write, to the key's master


@pytest.mark.parametrize("index", range(3))
async def test_synced_write_is_on_the_replica(cluster, cc, plain, index):
    """With synced_slaves_count=1 each write is on the replica of the key's master at once."""
    master = cluster.masters[index]
    name = name_on(cluster, master, plain)
    tag = f"{{{name}}}"
    queue = Queue(name, cc, synced_slaves_enabled=True, synced_slaves_count=1)
    replica = await replica_of(cluster, master)
    try:
        await queue.add_items(["a", "b", "c"])
        assert await replica.lrange(tag, 0, -1) == ["c", "b", "a"]
        assert await queue.get_items(2) == ["a", "b"]
        await queue.ack_item("a")
        assert await replica.lrange(queue.processing_queue_name, 0, -1) == ["b"]
        await queue.reject_item("b")
        assert await replica.lrange(tag, 0, -1) == ["c", "b"]
        await queue.delete_items(["b", "c"])
        assert await replica.exists(tag, queue.processing_queue_name) == 0
    finally:
        await replica.aclose()


async def test_too_few_replicas_raise_on_the_cluster(cc, plain):
    """With synced_slaves_count=2 and one replica a write is done, then raises."""
    queue = Queue(plain, cc, synced_slaves_enabled=True, synced_slaves_count=2)
    with pytest.raises(NotEnoughSyncedSlavesError) as caught:
        await queue.add_items(["a", "b"])
    assert (caught.value.synced, caught.value.required) == (1, 2)
    assert await cc.lrange(f"{{{plain}}}", 0, -1) == ["b", "a"]
    assert await Queue(plain, cc).get_items(2) == ["a", "b"]
    with pytest.raises(NotEnoughSyncedSlavesError):
        await queue.ack_items(["a"])  # a script write: not held by this consumer, no change
    await cc.delete(f"{{{plain}}}")


# Scripts forgotten on every master are loaded again


async def scripts_known(cluster, sha: str) -> list[bool]:
    """Whether each master knows the script."""
    known = []
    for master in cluster.masters:
        async with redis.asyncio.Redis.from_url(master.url) as node:
            known += await node.script_exists(sha)
    return known


@pytest.mark.parametrize("synced", [False, True], ids=["single", "pipeline"])
async def test_script_flush_on_all_masters(cluster, cc, plain, synced):
    """After SCRIPT FLUSH on every master each call reloads its script and works."""
    options = {"synced_slaves_enabled": True, "synced_slaves_count": 1} if synced else {}
    queue = UniqueQueue(plain, cc, max_deliveries=3, **options)
    other = UniqueQueue(plain, cc, **options)
    pool = Pool(f"{plain}-pool", cc, ack_valid_for=0, **options)
    steps = [
        (lambda: queue.add_items(["a", "b", "c"]), None),
        (lambda: queue.get_items(2), ["a", "b"]),
        (lambda: queue.reject_items(["b"]), 0),
        (lambda: queue.ack_items(["a"]), None),
        (lambda: other.get_items(1), ["b"]),
        (queue.re_enqueue_all_items, 1),
        (lambda: queue.delete_items(["c"]), None),
        (lambda: pool.add_items(["p"]), None),
        (pool.get_count_to_process, 1),
        (lambda: pool.get_items(5), ["p"]),
        (lambda: pool.ack_items(["p"]), None),
        (pool.clear_pool, None),
        (queue.get_count, 1),
    ]
    for step, expected in steps:
        assert await cc.script_flush()
        assert await scripts_known(cluster, UniqueQueue._add.sha) == [False] * 3
        assert await step() == expected
    assert await queue.get_items(5) == ["b"]
    await queue.ack_items(["b"])


# Failover: a master killed while producers and consumers run


@pytest.fixture
def own_cluster():
    """A cluster of this test's own: 3 masters with 2 replicas each.

    Two replicas, so that the promoted one still has a replica to WAIT for.
    """
    with ClusterServers(replicas=2) as cluster:
        yield cluster


@pytest.mark.slow
async def test_failover_loses_nothing(own_cluster, plain):
    """The queue's master killed mid-run: its replica takes over, every item is delivered."""
    cluster = own_cluster
    master = cluster.master_of(f"{{{plain}}}")
    promoted = []

    def kill_and_wait() -> None:
        start = time.monotonic()
        old = cluster.kill_master(cluster.masters.index(master))
        promoted.append(cluster.wait_for_failover(old, timeout=30))
        print(f"failover took {time.monotonic() - start:.1f} s")  # noqa: T201

    clients = [cluster_client(cluster) for _ in range(7)]
    try:
        await initialized(clients)
        idle = f"{{{plain}}}-idle"  # the same slot, so the same master
        counts = await run_through_failover(clients, plain, idle, kill_and_wait)
    finally:
        for client in clients:
            await client.aclose()
    assert cluster.master_of(f"{{{plain}}}") is promoted[0] is not master
    assert counts["lost"] == 0
