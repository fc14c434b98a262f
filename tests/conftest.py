"""Fixtures on real servers that the suite starts on free loopback ports and stops afterwards.

Tests never flush a database: each one works on its own key names, from the ``name`` fixture.
"""

from __future__ import annotations

import gc
import subprocess
import warnings
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


# What redis-py's asyncio cluster client says when it lets go of a node it still had
# connected: while slots move or masters stop, a refresh of its slot map can drop a
# ClusterNode whose connections are in use, and nothing closes them. The node, its
# connections and their sockets then warn when the garbage collector finds them, in
# whichever later test that happens.
DROPPED_NODE = "Unclosed ClusterNode object"
ITS_PARTS = ("unclosed Connection", "unclosed <socket", "unclosed transport", "loop is closed")


@pytest.fixture(autouse=True)
def _collect_after_each_test() -> Iterator[None]:
    """Collect the garbage a test left, so that what it leaked fails that test, not another.

    Without it the collector finds a leak whenever it next runs, in some later test, which
    then fails for what it did not do.

    The one leak let through is a cluster node redis-py dropped (``DROPPED_NODE``) with the
    connections, sockets and transports that were its own; any other ResourceWarning fails.
    """
    yield
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    if any(m.startswith(DROPPED_NODE) for m in messages):
        messages = [m for m in messages if not m.startswith((DROPPED_NODE, *ITS_PARTS))]
    # What is left is in use (the session's servers and clients, modules): no later
    # collection looks at it again, so each one costs a test what it made, not the session.
    gc.freeze()
    assert not messages, f"the test left objects unclosed: {messages}"


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
