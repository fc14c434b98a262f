"""Throwaway Redis servers, Clusters and Sentinel groups for the tests, the demo and benchmarks.

Not part of the package: the suite, ``examples/demo.py`` and ``benchmarks/run.py`` import it
from a checkout as ``tests.harness`` (see :mod:`tests.harness.servers`).
"""

from tests.harness.migration import Migration, MigrationError, migrate_slot, owner_of
from tests.harness.servers import (
    HOST,
    ClusterServers,
    RedisServer,
    SentinelGroup,
    SentinelServer,
    ServerError,
    ServerNotFoundError,
    find_server_binary,
)

__all__ = [
    "HOST",
    "ClusterServers",
    "Migration",
    "MigrationError",
    "RedisServer",
    "SentinelGroup",
    "SentinelServer",
    "ServerError",
    "ServerNotFoundError",
    "find_server_binary",
    "migrate_slot",
    "owner_of",
]
