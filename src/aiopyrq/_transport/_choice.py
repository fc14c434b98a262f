"""Which path a client's calls take: read ``AIOPYRQ_TRANSPORT`` once, then look at the client."""

from __future__ import annotations

import os
import re
import weakref
from typing import TYPE_CHECKING, Any, Protocol

import redis
from redis.asyncio import Redis, SSLConnection
from redis.asyncio.connection import Connection
from redis.asyncio.sentinel import SentinelManagedConnection

from aiopyrq._transport import _fast, _plain

if TYPE_CHECKING:
    from redis.asyncio.cluster import RedisCluster
    from redis.typing import EncodableT

VARIABLE = "AIOPYRQ_TRANSPORT"
CHOICES = ("auto", "fast", "plain")

PROVEN_REDIS_PY = frozenset({(5, 0), (5, 3), (6, 4), (7, 4), (8, 1)})
"""The redis-py versions (major, minor) the fast path is proven on: those CI's matrix runs
(``ci/matrix.py``; a unit test holds the two together)."""

PROVEN_CONNECTIONS = frozenset({Connection, SSLConnection, SentinelManagedConnection})
"""The connection classes the fast path is proven on: those the test suite uses. A subclass
of one of them (a user's own) may change what the fast path drives, so it is not proven."""


class Path(Protocol):
    """How calls reach Redis: ``_fast`` or ``_plain``."""

    async def execute(
        self,
        client: Redis | RedisCluster,
        *args: EncodableT,
        shared: bool = True,
        raw: bool = False,
    ) -> Any:  # noqa: ANN401 - a Redis reply
        """Send one command and return its reply (its strings as bytes if raw)."""

    async def pipeline(
        self, client: Redis | RedisCluster, commands: list[tuple[EncodableT, ...]], key: str
    ) -> list[Any]:
        """Send commands in one round trip on one connection; errors come back as replies."""


def _forced(value: str) -> str:
    """The transport the environment asks for ("auto" when unset).

    Raises:
        ValueError: The variable names no transport.
    """
    value = value.strip().lower() or "auto"
    if value not in CHOICES:
        msg = f"{VARIABLE} must be one of {', '.join(CHOICES)}, not {value!r}"
        raise ValueError(msg)
    return value


def _version(text: str) -> tuple[int, int]:
    """The (major, minor) of a version string such as ``5.0.8`` or ``6.0.0b2``."""
    match = re.match(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


FORCED = _forced(os.environ.get(VARIABLE, ""))
REDIS_PY = _version(redis.__version__)
_PATHS: weakref.WeakKeyDictionary[Redis | RedisCluster, Path] = weakref.WeakKeyDictionary()


def proven(client: Redis | RedisCluster, version: tuple[int, int] = REDIS_PY) -> bool:
    """Whether the fast path is proven on this client with this redis-py version."""
    if version not in PROVEN_REDIS_PY:
        return False
    connection_class: object
    if isinstance(client, Redis):
        connection_class = client.connection_pool.connection_class
    else:
        connection_class = client.get_connection_kwargs().get("connection_class", Connection)
    return connection_class in PROVEN_CONNECTIONS


def choose(client: Redis | RedisCluster, forced: str = FORCED) -> Path:
    """The path for a client: as forced, or the fast one where it is proven."""
    if forced == "fast" or (forced == "auto" and proven(client)):
        return _fast
    return _plain


def path(client: Redis | RedisCluster) -> Path:
    """The path of a client's calls, chosen on its first call."""
    chosen = _PATHS.get(client)
    if chosen is None:
        chosen = _PATHS[client] = choose(client)
    return chosen
