"""The script calls' own round trip (aiopyrq._connection): redis-py's pool, retries and errors.

It must behave as ``execute_command`` does: the same replies and errors, a timeout after the
client's ``socket_timeout``, no reply left behind on a connection by a call that failed or
was cancelled, the client's retry policy, and every connection back in the pool.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import TYPE_CHECKING

import pytest
import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from aiopyrq import _connection
from aiopyrq.testing import RedisServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

pytestmark = pytest.mark.redis

ECHO = "return {KEYS[1], ARGV[1], {tonumber(ARGV[2]) + 1, 'nested'}}"
SHA = hashlib.sha1(ECHO.encode(), usedforsecurity=False).hexdigest()
TIMEOUT = 0.5  # seconds: the socket timeout of the impatient client


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A server of the test's own, to freeze or restart."""
    with RedisServer() as server:
        yield server


@pytest.fixture
async def impatient(own_server) -> AsyncIterator[redis.asyncio.Redis]:
    """A client of own_server with a short socket timeout and no retry."""
    client = redis.asyncio.Redis.from_url(
        own_server.url, decode_responses=True, socket_timeout=TIMEOUT, retry=Retry(NoBackoff(), 0)
    )
    try:
        yield client
    finally:
        await client.aclose()


async def echo(client: redis.asyncio.Redis, key: str, value: object, number: int = 1) -> object:
    """Run ECHO through the module under test only (loading it first if Redis lacks it)."""
    try:
        return await _connection.execute(client, "EVALSHA", SHA, 1, key, value, number)
    except redis.exceptions.NoScriptError:
        await _connection.execute(client, "SCRIPT", "LOAD", ECHO)
        return await _connection.execute(client, "EVALSHA", SHA, 1, key, value, number)


async def test_replies_as_execute_command(client, name):
    """Nested replies, numbers and errors come back as execute_command returns them."""
    sha = await client.script_load(ECHO)
    args = ("EVALSHA", sha, 1, name, "é", 41)
    assert await _connection.execute(client, *args) == await client.execute_command(*args)
    assert await _connection.execute(client, *args) == [name, "é", [42, "nested"]]
    with pytest.raises(redis.exceptions.NoScriptError):
        await _connection.execute(client, "EVALSHA", "0" * 40, 0)
    await client.set(name, "a string")
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        await _connection.execute(client, "LPUSH", name, "x")


async def test_bytes_client(raw_client, name):
    """A client that does not decode gets bytes."""
    assert await echo(raw_client, name, b"\xff\x00") == [name.encode(), b"\xff\x00", [2, b"nested"]]


async def test_connections_are_reused_with_their_timeout(impatient, name):
    """Sequential calls use one pooled connection, whose socket_timeout stays as configured."""
    for number in range(20):
        assert (await echo(impatient, name, "v", number))[2][0] == number + 1
    pool = impatient.connection_pool
    assert len(pool._available_connections) == 1
    assert not pool._in_use_connections
    assert pool._available_connections[0].socket_timeout == TIMEOUT


async def test_concurrent_calls_each_get_their_own_reply(client, name):
    """Calls of many tasks at once, each on a connection of its own, get their own replies."""
    replies = await asyncio.gather(*(echo(client, name, str(i), i) for i in range(50)))
    assert replies == [[name, str(i), [i + 1, "nested"]] for i in range(50)]


@pytest.mark.slow
async def test_frozen_server_times_out(own_server, impatient, name):
    """A server that stops answering fails the call after socket_timeout, as redis-py's error."""
    await echo(impatient, name, "warm")
    own_server.pause()
    try:
        start = time.monotonic()
        with pytest.raises(redis.exceptions.TimeoutError):
            await echo(impatient, name, "lost")
        assert TIMEOUT * 0.9 < time.monotonic() - start < TIMEOUT * 4
    finally:
        own_server.resume()
    # The timed-out call's reply arrives late on the dropped connection, never to another call.
    assert await echo(impatient, name, "next", 7) == [name, "next", [8, "nested"]]
    assert all(c.socket_timeout == TIMEOUT for c in pool_of(impatient))


@pytest.mark.slow
async def test_cancelled_call_leaves_no_reply_behind(own_server, impatient, name):
    """A call cancelled while waiting for its reply drops the connection: no stale reply."""
    await echo(impatient, name, "warm")
    own_server.pause()
    try:
        call = asyncio.create_task(echo(impatient, name, "cancelled", 0))
        await asyncio.sleep(0.1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    finally:
        own_server.resume()
    for number in range(5):
        reply = await echo(impatient, name, "after", number)
        assert reply == [name, "after", [number + 1, "nested"]]
    assert not impatient.connection_pool._in_use_connections


@pytest.mark.slow
async def test_retries_as_the_client_does(own_server, name):
    """After a restart, a client with retries gets its reply; one without fails at once."""
    retrying = redis.asyncio.Redis.from_url(
        own_server.url, decode_responses=True, retry=Retry(NoBackoff(), 3)
    )
    single = redis.asyncio.Redis.from_url(
        own_server.url, decode_responses=True, retry=Retry(NoBackoff(), 0)
    )
    try:
        await echo(retrying, name, "before")
        await echo(single, name, "before")
        own_server.restart()  # both pooled connections are dead now
        assert await echo(retrying, name, "after") == [name, "after", [2, "nested"]]
        with pytest.raises(redis.exceptions.ConnectionError):
            await echo(single, name, "after")
        assert await echo(single, name, "again") == [name, "again", [2, "nested"]]
    finally:
        await retrying.aclose()
        await single.aclose()


async def test_single_connection_client(redis_server, name):
    """A single-connection client goes through execute_command, its lock and its connection."""
    client = redis.asyncio.Redis.from_url(
        redis_server.url, decode_responses=True, single_connection_client=True
    )
    try:
        replies = await asyncio.gather(*(echo(client, name, str(i), i) for i in range(10)))
        assert replies == [[name, str(i), [i + 1, "nested"]] for i in range(10)]
    finally:
        await client.aclose()


def pool_of(client: redis.asyncio.Redis) -> list[redis.asyncio.Connection]:
    pool = client.connection_pool
    return [*pool._available_connections, *pool._in_use_connections]
