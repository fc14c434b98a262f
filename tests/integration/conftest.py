"""The behaviour suite on every deployment: standalone, Redis Cluster and Sentinel.

In a module marked ``all_deployments``, each test that uses ``client`` or ``raw_client``
runs three times: on the standalone server, on the session's Redis Cluster (a
``RedisCluster`` client) and on the session's Sentinel group (``Sentinel.master_for``). On
the cluster ``name`` has a hash tag (``{test-...}``), so the keys a test reads with raw
commands are the structure's own. A test marked ``standalone_only`` (MONITOR, INFO
commandstats, a client of its own on the standalone server) runs on the standalone server
only. Elsewhere ``client``, ``raw_client`` and ``name`` are the standalone ones, as before.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest
import redis.asyncio
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

DEPLOYMENTS = ("standalone", "cluster", "sentinel")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the tests of ``all_deployments`` modules on each deployment."""
    definition = metafunc.definition
    if (
        "deployment" in metafunc.fixturenames
        and definition.get_closest_marker("all_deployments")
        and not definition.get_closest_marker("standalone_only")
    ):
        metafunc.parametrize("deployment", DEPLOYMENTS, indirect=True)


@pytest.fixture
def deployment(request: pytest.FixtureRequest) -> str:
    """Which deployment ``client`` talks to: standalone unless parametrized."""
    return getattr(request, "param", "standalone")


class ClusterClient(RedisCluster):
    """A RedisCluster client whose KEYS asks every master.

    redis-py sends KEYS to one node only, so a test listing a structure's keys would see
    nothing when they live on another master, and pass without checking anything.
    """

    async def keys(self, pattern="*", **kwargs):
        """List the keys matching pattern on every master."""
        kwargs.setdefault("target_nodes", RedisCluster.PRIMARIES)
        return await super().keys(pattern, **kwargs)


@contextlib.asynccontextmanager
async def connect(request: pytest.FixtureRequest, deployment: str, *, decode: bool):
    """A client of the deployment, closed on exit with everything it opened."""
    if deployment == "cluster":
        cluster = request.getfixturevalue("cluster")
        client = ClusterClient(startup_nodes=cluster.startup_nodes, decode_responses=decode)
        try:
            yield client
        finally:
            await client.aclose()
    elif deployment == "sentinel":
        group = request.getfixturevalue("sentinel_group")
        sentinel = Sentinel(group.sentinel_addresses)
        client = sentinel.master_for(group.service_name, decode_responses=decode)
        try:
            yield client
        finally:
            await client.aclose()
            for watcher in sentinel.sentinels:
                await watcher.aclose()
    else:
        server = request.getfixturevalue("redis_server")
        client = redis.asyncio.Redis.from_url(server.url, decode_responses=decode)
        try:
            yield client
        finally:
            await client.aclose()


@pytest.fixture
async def client(request: pytest.FixtureRequest, deployment: str) -> AsyncIterator:
    """A client of the deployment that decodes replies to ``str``."""
    async with connect(request, deployment, decode=True) as client:
        yield client


@pytest.fixture
async def raw_client(request: pytest.FixtureRequest, deployment: str) -> AsyncIterator:
    """A client of the deployment that returns ``bytes``."""
    async with connect(request, deployment, decode=False) as client:
        yield client


@pytest.fixture
def name(name: str, deployment: str) -> str:
    """A key name no other test uses; on the cluster, a hash tag: ``{test-...}``."""
    return f"{{{name}}}" if deployment == "cluster" else name


@pytest.fixture
async def async_client(request: pytest.FixtureRequest, deployment: str) -> AsyncIterator:
    """An asyncio ``client``, by a name that the sync tests' own ``client`` does not hide."""
    async with connect(request, deployment, decode=True) as client:
        yield client
