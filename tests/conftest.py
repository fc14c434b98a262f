"""Fixtures on real servers that the suite starts on free loopback ports and stops afterwards.

Tests never flush a database: each one works on its own key names, from the ``name`` fixture.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest
import redis
import redis.asyncio

from tests.harness import (
    ClusterServers,
    RedisServer,
    SentinelGroup,
    ServerNotFoundError,
    find_server_binary,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator


def pytest_report_header() -> list[str]:
    """Show which server binary the suite runs against."""
    try:
        binary = find_server_binary()
    except ServerNotFoundError as exc:
        return [f"redis server: not found ({exc})"]
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=False, timeout=10
    ).stdout.strip()
    return [f"redis server: {binary}", f"redis server version: {version}"]


@dataclass(frozen=True)
class Replicated:
    """A master and its replica."""

    master: RedisServer
    replica: RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A standalone server shared by the whole session."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def replicated() -> Iterator[Replicated]:
    """A master with one replica, in sync when the first test gets it."""
    with RedisServer() as master, RedisServer(replica_of=master) as replica:
        # A master streams writes to a new replica only after its first ACK, up to a second
        # later: one write now spares that delay to the first test.
        with redis.Redis.from_url(master.url) as client:
            client.set("conftest:warm-up", 1)
            client.delete("conftest:warm-up")
        master.wait_for_replicas(1)
        yield Replicated(master, replica)


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    """A client of ``redis_server`` that decodes replies to ``str``."""
    client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def raw_client(redis_server: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    """A client of ``redis_server`` that returns ``bytes``."""
    client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=False)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def name() -> str:
    """A key name (or queue name) no other test uses."""
    return f"test-{uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def cluster() -> Iterator[ClusterServers]:
    """A Redis Cluster of 3 masters with a replica each, shared by the whole session.

    Tests that kill or stop nodes start their own ``ClusterServers`` instead.
    """
    with ClusterServers() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def sentinel_group() -> Iterator[SentinelGroup]:
    """A master with 2 replicas watched by 3 sentinels, shared by the whole session.

    Tests that kill or stop servers start their own ``SentinelGroup`` instead.
    """
    with SentinelGroup() as group:
        yield group
