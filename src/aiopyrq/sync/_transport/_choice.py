"""The one path of the sync twin: redis-py's public API (``_plain``).

The asyncio twin's fast path drives asyncio connections; the sync twin has no other path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiopyrq.sync._transport import _plain

if TYPE_CHECKING:
    from types import ModuleType

    from redis import Redis
    from redis.cluster import RedisCluster


def path(client: Redis | RedisCluster) -> ModuleType:
    """The path of a client's calls: always the plain one."""
    del client
    return _plain
