"""WAITAOF: ``fsync_local`` and ``fsync_replicas`` wait until the write is in append-only files.

WAITAOF exists from Redis 7.2 (and in Valkey); on Redis 7.0 any fsync option raises
WaitAofError. Each server runs the tests of the branch it has, chosen by sending WAITAOF
itself and checked against the server's version, so neither branch is ever skipped on
both servers. In either case the write is done before the error is raised.
"""

from __future__ import annotations

import pytest
import redis.asyncio
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from aiopyrq import AiopyrqError, Pool, Queue, UniqueQueue
from aiopyrq.errors import DurabilityError, NotEnoughFsyncedError, WaitAofError
from tests.harness import RedisServer

pytestmark = pytest.mark.redis

STRUCTURES = {"Queue": Queue, "UniqueQueue": UniqueQueue, "Pool": Pool}


def version_has_waitaof(version: str) -> bool:
    """Whether a server of this version (redis_version, or valkey_version) has WAITAOF."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return (major, minor) >= (7, 2)


async def has_waitaof(client) -> bool:
    """Ask the server itself: WAITAOF 0 0 0 is an unknown command where it does not exist."""
    try:
        await client.execute_command("WAITAOF", 0, 0, 0)
    except ResponseError as error:
        if "unknown command" not in str(error).lower():
            raise
        return False
    return True


@pytest.fixture(scope="module")
def aof_pair():
    """A master and its replica, both with ``appendonly yes`` (fsync at every write)."""
    with (
        RedisServer(appendonly=True) as master,
        RedisServer(appendonly=True, replica_of=master) as replica,
    ):
        master.wait_for_replicas(1)
        yield master, replica


@pytest.fixture
async def aof_master(aof_pair):
    """A client of the append-only master."""
    async with redis.asyncio.Redis.from_url(aof_pair[0].url, decode_responses=True) as client:
        yield client


@pytest.fixture
async def aof_replica(aof_pair):
    """A client of the append-only replica, to read what it holds."""
    async with redis.asyncio.Redis.from_url(aof_pair[1].url, decode_responses=True) as client:
        yield client


@pytest.fixture
async def supported(aof_pair, aof_master) -> bool:
    """Whether this server has WAITAOF: asked, and checked against its version."""
    found = await has_waitaof(aof_master)
    assert found == version_has_waitaof(aof_pair[0].version), aof_pair[0].version
    return found


async def waitaof_calls(client) -> int:
    """How many WAITAOF the server has run (INFO commandstats)."""
    stats = await client.info("commandstats")
    return stats.get("cmdstat_waitaof", {}).get("calls", 0)


def test_version_rule():
    """Redis 7.0 has no WAITAOF; Redis 7.2+ and Valkey (7.2+) have it."""
    assert not version_has_waitaof("7.0.15")
    assert not version_has_waitaof("6.2.14")
    assert version_has_waitaof("7.2.4")
    assert version_has_waitaof("8.0.0")
    assert version_has_waitaof("9.1.2")


@pytest.mark.parametrize("kind", STRUCTURES)
async def test_fsync_local(supported, aof_master, name, kind):
    """fsync_local=True: each write waits for the master's fsync; on 7.0, WaitAofError."""
    structure = STRUCTURES[kind](name, aof_master, fsync_local=True)
    if supported:
        warm_up = STRUCTURES[kind](f"{name}-warm-up", aof_master)  # loads the scripts
        await warm_up.add_items(["a"])
        await warm_up.ack_items(await warm_up.get_items(1))
        before = await waitaof_calls(aof_master)
        await structure.add_items(["a", "b"])
        assert sorted(await structure.get_items(2)) == ["a", "b"]  # a get waits for nothing
        await structure.ack_items(["a"])
        assert await waitaof_calls(aof_master) == before + 2
    else:
        with pytest.raises(WaitAofError, match=r"(?i)unknown command 'WAITAOF'") as caught:
            await structure.add_items(["a", "b"])
        assert isinstance(caught.value, AiopyrqError)
        assert not isinstance(caught.value, DurabilityError)
        assert sorted(await structure.get_items(2)) == ["a", "b"]  # the write is done
    await aof_master.delete(*await aof_master.keys(f"{name}*"))


async def test_fsync_replicas(supported, aof_master, aof_replica, name):
    """fsync_replicas=1 with a replica: the write is on the replica when the call returns."""
    queue = Queue(name, aof_master, fsync_replicas=1, synced_slaves_timeout=2000)
    if supported:
        await queue.add_items(["a", "b"])
        assert await aof_replica.lrange(name, 0, -1) == ["b", "a"]  # read at once
        assert await queue.get_items(1) == ["a"]
        await queue.reject_items(["a"])
        assert await aof_replica.lrange(name, 0, -1) == ["b", "a"]
        await queue.delete_items(["a", "b"])
        assert await aof_replica.exists(name) == 0
    else:
        with pytest.raises(WaitAofError, match=r"(?i)unknown command 'WAITAOF'"):
            await queue.add_items(["a"])
        assert await aof_master.lrange(name, 0, -1) == ["a"]
        await aof_master.delete(name)


async def test_fsync_replicas_with_fsync_local_and_wait(supported, aof_master, name):
    """fsync_local, fsync_replicas and WAIT together: WAIT then WAITAOF, both checked."""
    queue = Queue(
        name,
        aof_master,
        synced_slaves_enabled=True,
        synced_slaves_count=1,
        fsync_local=True,
        fsync_replicas=1,
        synced_slaves_timeout=2000,
    )
    if supported:
        await Queue(name, aof_master).add_items(["warm-up"])  # loads the script
        before = await waitaof_calls(aof_master)
        await queue.add_items(["a"])
        assert await waitaof_calls(aof_master) == before + 1
        await aof_master.rpop(name)
    else:
        with pytest.raises(WaitAofError):
            await queue.add_items(["a"])
    assert await aof_master.lrange(name, 0, -1) == ["a"]
    await aof_master.delete(name)


async def test_too_few_fsyncs_raise(supported, aof_master, name):
    """fsync_replicas=2 with one replica: the write is done, then NotEnoughFsyncedError."""
    queue = Queue(name, aof_master, fsync_local=True, fsync_replicas=2, synced_slaves_timeout=200)
    if supported:
        with pytest.raises(NotEnoughFsyncedError) as caught:
            await queue.add_items(["a"])
        error = caught.value
        assert isinstance(error, DurabilityError)
        assert error.local == 1
        assert error.replicas in (0, 1)  # how many had reported their fsync at the timeout
        assert (error.required_local, error.required_replicas) == (1, 2)
    else:
        with pytest.raises(WaitAofError):
            await queue.add_items(["a"])
    assert await aof_master.lrange(name, 0, -1) == ["a"]
    await aof_master.delete(name)


async def test_fsync_local_without_appendonly(redis_server, client, name):
    """On a server without appendonly, fsync_local raises WaitAofError; the write is done."""
    found = await has_waitaof(client)
    assert found == version_has_waitaof(redis_server.version)
    assert (await client.config_get("appendonly"))["appendonly"] == "no"
    queue = UniqueQueue(name, client, fsync_local=True)
    message = r"(?i)appendonly" if found else r"(?i)unknown command 'WAITAOF'"
    with pytest.raises(WaitAofError, match=message):
        await queue.add_items(["a"])
    assert await client.lrange(name, 0, -1) == ["a"]
    await client.delete(name, f"{name}-unique")


async def test_fsync_replicas_of_replicas_without_appendonly(replicated, name):
    """Replicas without appendonly never fsync: fsync_replicas=1 raises NotEnoughFsynced."""
    async with redis.asyncio.Redis.from_url(replicated.master.url, decode_responses=True) as client:
        found = await has_waitaof(client)
        queue = Queue(name, client, fsync_replicas=1, synced_slaves_timeout=100)
        expected = NotEnoughFsyncedError if found else WaitAofError
        with pytest.raises(expected) as caught:
            await queue.add_items(["a"])
        if found:
            assert (caught.value.replicas, caught.value.required_replicas) == (0, 1)
            assert caught.value.required_local == 0
        assert await client.lrange(name, 0, -1) == ["a"]
        await client.delete(name)


async def test_fsync_on_the_cluster(cluster, name):
    """On a cluster WAITAOF goes to the key's master: without AOF there, fsync_local fails."""
    client = RedisCluster(startup_nodes=cluster.startup_nodes, decode_responses=True)
    try:
        master = cluster.master_of(f"{{{name}}}")
        async with redis.asyncio.Redis.from_url(master.url) as node:
            found = await has_waitaof(node)
        queue = Queue(name, client, fsync_local=True)
        message = r"(?i)appendonly" if found else r"(?i)unknown command 'WAITAOF'"
        with pytest.raises(WaitAofError, match=message):
            await queue.add_items(["a"])
        assert await client.lrange(f"{{{name}}}", 0, -1) == ["a"]
        await client.delete(f"{{{name}}}")
    finally:
        await client.aclose()
