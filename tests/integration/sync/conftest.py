"""Sync clients of every deployment, for the sync twin's tests (``aiopyrq.sync``).

The same fixtures as ``tests/integration/conftest.py``, made of redis-py's sync clients:
``client`` and ``raw_client`` talk to the standalone server, the Redis Cluster or the
Sentinel group, as ``deployment`` says; the generated behaviour suites
(``test_sync_*.py``, ``make unasync``) run on them.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest
import redis
from redis.cluster import RedisCluster
from redis.sentinel import Sentinel

if TYPE_CHECKING:
    from collections.abc import Iterator


class SyncClusterClient(RedisCluster):
    """A sync RedisCluster client whose KEYS asks every master (see ClusterClient)."""

    def keys(self, pattern="*", **kwargs):
        """List the keys matching pattern on every master."""
        kwargs.setdefault("target_nodes", RedisCluster.PRIMARIES)
        return super().keys(pattern, **kwargs)


@contextlib.contextmanager
def connect_sync(request: pytest.FixtureRequest, deployment: str, *, decode: bool):
    """A sync client of the deployment, closed on exit with everything it opened."""
    if deployment == "cluster":
        cluster = request.getfixturevalue("cluster")
        client = SyncClusterClient(
            startup_nodes=[
                redis.cluster.ClusterNode(node.host, node.port) for node in cluster.startup_nodes
            ],
            decode_responses=decode,
        )
    elif deployment == "sentinel":
        group = request.getfixturevalue("sentinel_group")
        sentinel = Sentinel(group.sentinel_addresses)
        client = sentinel.master_for(group.service_name, decode_responses=decode)
    else:
        server = request.getfixturevalue("redis_server")
        client = redis.Redis.from_url(server.url, decode_responses=decode)
    try:
        yield client
    finally:
        client.close()
        if deployment == "sentinel":
            for watcher in sentinel.sentinels:
                watcher.close()


@pytest.fixture
def client(request: pytest.FixtureRequest, deployment: str) -> Iterator:
    """A sync client of the deployment that decodes replies to ``str``."""
    with connect_sync(request, deployment, decode=True) as client:
        yield client


@pytest.fixture
def raw_client(request: pytest.FixtureRequest, deployment: str) -> Iterator:
    """A sync client of the deployment that returns ``bytes``."""
    with connect_sync(request, deployment, decode=False) as client:
        yield client
