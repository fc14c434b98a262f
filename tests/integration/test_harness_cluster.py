"""The throwaway Redis Cluster and Sentinel deployments of tests.harness, on real servers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel

from tests.harness import ClusterServers, SentinelGroup

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _key_on(cluster: ClusterServers, master_index: int, prefix: str) -> str:
    """A key whose slot is served by ``cluster.masters[master_index]``."""
    master = cluster.masters[master_index]
    return next(
        key for key in (f"{prefix}-{i}" for i in range(10_000)) if cluster.master_of(key) is master
    )


async def _close(sentinel: Sentinel, master: redis.asyncio.Redis) -> None:
    await master.aclose()
    for client in sentinel.sentinels:
        await client.aclose()


def _role(url: str) -> str:
    with redis.Redis.from_url(url, decode_responses=True) as client:
        return str(client.info("replication")["role"])


def test_cluster_topology(cluster):
    """The session cluster has 3 masters serving all 16384 slots, each with one replica."""
    assert len(cluster.nodes) == 6
    assert [_role(node.url) for node in cluster.masters] == ["master"] * 3
    assert [_role(node.url) for node in cluster.replicas] == ["slave"] * 3
    with redis.Redis.from_url(cluster.url, decode_responses=True) as client:
        info = client.execute_command("CLUSTER", "INFO")
        assert "cluster_state:ok" in info
        assert "cluster_slots_ok:16384" in info
        assert "cluster_size:3" in info
    for index, replica in enumerate(cluster.replicas):
        with redis.Redis.from_url(replica.url) as client:
            assert client.info("replication")["master_port"] == cluster.masters[index].port


async def test_cluster_client_reaches_every_master(cluster, name):
    """RedisCluster writes and reads keys on the slots of all 3 masters."""
    keys = [_key_on(cluster, index, name) for index in range(3)]
    client = RedisCluster(startup_nodes=cluster.startup_nodes, decode_responses=True)
    try:
        for key in keys:
            await client.set(key, f"value of {key}")
        assert [await client.get(key) for key in keys] == [f"value of {key}" for key in keys]
        for index, key in enumerate(keys):
            with redis.Redis.from_url(cluster.masters[index].url, decode_responses=True) as node:
                assert node.get(key) == f"value of {key}"
        await client.delete(*keys)
    finally:
        await client.aclose()


def test_master_of(cluster, name):
    """master_of maps slots and keys (hash tags included) to the master that serves them."""
    assert cluster.master_of(0) is cluster.masters[0]
    assert cluster.master_of(16383) is cluster.masters[-1]
    assert cluster.master_of(f"{{{name}}}-a") is cluster.master_of(name)
    with pytest.raises(ValueError, match="16384"):
        cluster.master_of(16384)
    key = _key_on(cluster, 1, name)
    with redis.Redis.from_url(cluster.masters[1].url) as owner:
        owner.set(key, "value")
        owner.delete(key)
    with (
        redis.Redis.from_url(cluster.masters[0].url) as other,
        pytest.raises(redis.exceptions.MovedError, match=f":{cluster.masters[1].port}$"),
    ):
        other.set(key, "value")


async def test_cluster_failover(name):
    """A killed master's replica takes over with its keys; restarted, the old one follows it."""
    with ClusterServers() as cluster:
        key = _key_on(cluster, 0, name)
        replica = cluster.replicas[0]
        client = RedisCluster.from_url(cluster.url, decode_responses=True)
        try:
            await client.set(key, "kept")
            cluster.masters[0].wait_for_replicas(1)
            old = cluster.kill_master(0)
            new = await asyncio.to_thread(cluster.wait_for_failover, old, 30)
            assert new is replica
            assert cluster.masters[0] is new
            assert old in cluster.replicas
            assert _role(new.url) == "master"
            assert cluster.master_of(key) is new
            assert await client.get(key) == "kept"
            await client.set(key, "written after failover")
            assert await client.get(key) == "written after failover"
        finally:
            await client.aclose()
        old.restart()
        cluster.wait_until_up(timeout=30)
        with redis.Redis.from_url(
            old.url, decode_responses=True, single_connection_client=True
        ) as rejoined:
            replication = rejoined.info("replication")
            assert replication["role"] == "slave"
            assert replication["master_port"] == new.port
            new.wait_for_replicas(1)
            rejoined.execute_command("READONLY")  # let a replica answer reads of its slots
            assert rejoined.get(key) == "written after failover"


async def test_sentinel_master_for(sentinel_group, name):
    """Sentinel.master_for writes to the reported master, and its replicas get the write."""
    group = sentinel_group
    assert [_role(server.url) for server in group.replicas] == ["slave", "slave"]
    sentinel = Sentinel(group.sentinel_addresses, decode_responses=True)
    master = sentinel.master_for(group.service_name)
    try:
        assert await sentinel.discover_master(group.service_name) == (
            group.master.host,
            group.master.port,
        )
        await master.set(name, "value")
        assert await master.get(name) == "value"
        group.master.wait_for_replicas(2)
        for replica in group.replicas:
            with redis.Redis.from_url(replica.url, decode_responses=True) as client:
                assert client.get(name) == "value"
        await master.delete(name)
    finally:
        await _close(sentinel, master)


async def test_sentinel_failover(name):
    """Killing the master makes the sentinels promote a replica that master_for reaches."""
    with SentinelGroup() as group:
        sentinel = Sentinel(group.sentinel_addresses, decode_responses=True)
        master = sentinel.master_for(group.service_name)
        try:
            await master.set(name, "kept")
            group.master.wait_for_replicas(2)
            old = group.kill_master()
            new = await asyncio.to_thread(group.wait_for_failover, 30)
            assert new is not old
            assert group.master is new
            assert _role(new.url) == "master"
            assert await sentinel.discover_master(group.service_name) == (new.host, new.port)
            assert await master.get(name) == "kept"
            await master.set(name, "written after failover")
            with redis.Redis.from_url(new.url, decode_responses=True) as client:
                assert client.get(name) == "written after failover"
        finally:
            await _close(sentinel, master)


def test_bad_sizes():
    """A cluster needs a master, a sentinel group a replica and a sentinel."""
    with pytest.raises(ValueError, match="masters"):
        ClusterServers(masters=0)
    with pytest.raises(ValueError, match="replicas"):
        SentinelGroup(replicas=0)
    with pytest.raises(ValueError, match="sentinels"):
        SentinelGroup(sentinels=0)


_LEFT_RUNNING = """
import json
from tests.harness import ClusterServers, SentinelGroup

cluster = ClusterServers(masters=1, replicas=0)
cluster.nodes[0].start()  # a cluster-mode node; building the cluster would add 2 s
group = SentinelGroup(replicas=1, sentinels=1)
group.start()
servers = [*cluster.nodes, *group.servers, *group.sentinels]
print(json.dumps([[server.pid, str(server.dir)] for server in servers]))
"""


def test_processes_killed_at_exit():
    """Cluster nodes, servers and sentinels left running are killed when Python exits."""
    result = subprocess.run(
        [sys.executable, "-c", _LEFT_RUNNING],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    servers = json.loads(result.stdout)
    assert len(servers) == 4
    for pid, directory in servers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert not Path(directory).exists()
