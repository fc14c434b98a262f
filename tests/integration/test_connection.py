"""How script calls reach Redis (aiopyrq._transport), on the fast path and the plain one.

Both must behave as ``execute_command`` does: the same replies and errors, each call its own
reply however many tasks share a connection, a timeout after the client's
``socket_timeout``, no reply given to the wrong call after a failure or a cancellation, and
the client's retry policy. The fast path also shares one connection between small calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from typing import TYPE_CHECKING

import pytest
import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from aiopyrq import Queue
from aiopyrq._transport import _choice, _fast, _plain
from tests.harness import RedisServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from aiopyrq._transport._choice import Path

pytestmark = pytest.mark.redis

ECHO = "return {KEYS[1], ARGV[1], {tonumber(ARGV[2]) + 1, 'nested'}}"
SHA = hashlib.sha1(ECHO.encode(), usedforsecurity=False).hexdigest()
TIMEOUT = 0.5  # seconds: the socket timeout of the impatient client
SHARED = pytest.mark.parametrize("shared", [True, False], ids=["shared", "alone"])
CONCURRENT = 100  # calls at once: redis-py 8's pool lends 100 connections at most


@pytest.fixture(params=[_fast, _plain], ids=["fast", "plain"])
def path(request):
    """Each transport's path in turn."""
    return request.param


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


async def echo(  # noqa: PLR0913
    path: Path,
    client: redis.asyncio.Redis,
    key: str,
    value: object,
    number: int = 1,
    *,
    shared: bool = True,
) -> object:
    """Run ECHO through the path under test only (loading it first if Redis lacks it)."""
    args = ("EVALSHA", SHA, 1, key, value, number)
    try:
        return await path.execute(client, *args, shared=shared)
    except redis.exceptions.NoScriptError:
        await path.execute(client, "SCRIPT LOAD", ECHO)
        return await path.execute(client, *args, shared=shared)


@SHARED
async def test_replies_as_execute_command(path, client, name, shared):
    """Nested replies, numbers and errors come back as execute_command returns them."""
    sha = await client.script_load(ECHO)
    args = ("EVALSHA", sha, 1, name, "é", 41)
    assert await path.execute(client, *args, shared=shared) == await client.execute_command(*args)
    assert await path.execute(client, *args, shared=shared) == [name, "é", [42, "nested"]]
    with pytest.raises(redis.exceptions.NoScriptError):
        await path.execute(client, "EVALSHA", "0" * 40, 0, shared=shared)
    await client.set(name, "a string")
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        await path.execute(client, "LPUSH", name, "x", shared=shared)


async def test_bytes_client(path, raw_client, name):
    """A client that does not decode gets bytes."""
    assert await echo(path, raw_client, name, b"\xff\x00") == [
        name.encode(),
        b"\xff\x00",
        [2, b"nested"],
    ]


async def test_one_connection_serves_every_call(impatient, name):
    """Fast path: sequential and concurrent shared calls use one connection, its timeout kept."""
    path = _fast
    for number in range(20):
        assert (await echo(path, impatient, name, "v", number))[2][0] == number + 1
    # More calls at once than the pool has connections (100): they share one.
    replies = await asyncio.gather(*(echo(path, impatient, name, str(i), i) for i in range(500)))
    assert replies == [[name, str(i), [i + 1, "nested"]] for i in range(500)]
    assert [c.socket_timeout for c in pool_of(impatient)] == [TIMEOUT]


@SHARED
async def test_concurrent_calls_each_get_their_own_reply(path, client, name, shared):
    """Calls of many tasks at once, written together, get their own replies, in any order."""
    calls = (echo(path, client, name, str(i), i, shared=shared) for i in range(CONCURRENT))
    replies = await asyncio.gather(*calls)
    assert replies == [[name, str(i), [i + 1, "nested"]] for i in range(CONCURRENT)]


async def test_an_error_fails_its_own_call_only(path, client, name):
    """An error reply, or an argument redis-py cannot encode, fails that call alone."""
    await client.set(f"{name}-string", "a string")
    good, wrong_type, bad_argument, also_good = await asyncio.gather(
        echo(path, client, name, "a"),
        path.execute(client, "LPUSH", f"{name}-string", "x"),
        path.execute(client, "LPUSH", name, None),
        echo(path, client, name, "b"),
        return_exceptions=True,
    )
    assert good == [name, "a", [2, "nested"]]
    assert also_good == [name, "b", [2, "nested"]]
    assert isinstance(wrong_type, redis.exceptions.ResponseError)
    assert "WRONGTYPE" in str(wrong_type)
    assert isinstance(bad_argument, redis.exceptions.DataError)
    assert await client.exists(name) == 0


async def test_a_call_cancelled_before_it_went_out_sends_nothing(client, name):
    """Fast path: a call cancelled while queued for the next write is not written at all.

    (A plain call writes its command before its first wait: there is no queue to leave.)
    """
    path = _fast
    await echo(path, client, name, "warm")
    queued = asyncio.create_task(path.execute(client, "LPUSH", name, "never"))
    await asyncio.sleep(0)  # queued for the pump, which has not written yet
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert await echo(path, client, name, "after") == [name, "after", [2, "nested"]]
    assert await client.exists(name) == 0


@pytest.mark.slow
@SHARED
async def test_frozen_server_times_out(path, own_server, impatient, name, shared):
    """A server that stops answering fails the call after socket_timeout, as redis-py's error."""
    await echo(path, impatient, name, "warm", shared=shared)
    with frozen(own_server):
        start = time.monotonic()
        with pytest.raises(redis.exceptions.TimeoutError):
            await echo(path, impatient, name, "lost", shared=shared)
        assert TIMEOUT * 0.9 < time.monotonic() - start < TIMEOUT * 4
        # Calls queued meanwhile fail too, as redis-py's errors, not with each other's replies.
        late = await asyncio.gather(
            *(echo(path, impatient, name, str(i)) for i in range(5)), return_exceptions=True
        )
        assert all(isinstance(error, redis.exceptions.TimeoutError) for error in late)
    # The timed-out call's reply arrives late on the dropped connection, never to another call.
    assert await echo(path, impatient, name, "next", 7, shared=shared) == [
        name,
        "next",
        [8, "nested"],
    ]
    assert all(c.socket_timeout == TIMEOUT for c in pool_of(impatient))


@pytest.mark.slow
@SHARED
async def test_cancelled_call_leaves_no_reply_behind(path, own_server, impatient, name, shared):
    """A call cancelled while waiting for its reply drops the connection: no stale reply."""
    await echo(path, impatient, name, "warm", shared=shared)
    with frozen(own_server):
        call = asyncio.create_task(echo(path, impatient, name, "cancelled", 0, shared=shared))
        await asyncio.sleep(0.1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    for number in range(5):
        reply = await echo(path, impatient, name, "after", number, shared=shared)
        assert reply == [name, "after", [number + 1, "nested"]]


@pytest.mark.slow
@SHARED
async def test_retries_as_the_client_does(path, own_server, name, shared):
    """A call that timed out is sent again as the client's retry policy says, and answered."""
    retrying = redis.asyncio.Redis.from_url(
        own_server.url, decode_responses=True, socket_timeout=TIMEOUT, retry=Retry(NoBackoff(), 3)
    )
    try:
        await echo(path, retrying, name, "before", shared=shared)
        with frozen(own_server):
            asyncio.get_running_loop().call_later(TIMEOUT * 1.5, own_server.resume)
            start = time.monotonic()
            reply = await echo(path, retrying, name, "after", shared=shared)
        assert reply == [name, "after", [2, "nested"]]
        assert time.monotonic() - start > TIMEOUT  # the first try timed out; a later one passed
    finally:
        await retrying.aclose()


async def test_single_connection_client(path, redis_server, name):
    """A single-connection client goes through execute_command, its lock and its connection."""
    client = redis.asyncio.Redis.from_url(
        redis_server.url, decode_responses=True, single_connection_client=True
    )
    try:
        replies = await asyncio.gather(*(echo(path, client, name, str(i), i) for i in range(10)))
        assert replies == [[name, str(i), [i + 1, "nested"]] for i in range(10)]
    finally:
        await client.aclose()


class Counting(redis.asyncio.Connection):
    """A user's own connection class: it sees each command redis-py sends through it."""

    sent: list[str]

    async def send_command(self, *args: object, **kwargs: object) -> None:
        """Note the command's name, then send it."""
        Counting.sent.append(str(args[0]))
        await super().send_command(*args, **kwargs)


async def test_a_connection_class_of_its_own_sees_every_call(redis_server, name):
    """A client with a connection class of its own takes the plain path: redis-py sends each
    call, so the class (a hook, a metric) sees every script a structure runs."""
    Counting.sent = []
    client = redis.asyncio.Redis.from_url(
        redis_server.url, decode_responses=True, connection_class=Counting
    )
    try:
        assert _choice.choose(client, "auto") is _plain
        _choice._PATHS[client] = _choice.choose(client, "auto")  # whatever AIOPYRQ_TRANSPORT says
        queue = Queue(name, client)
        await queue.add_items(["a", "b"])
        assert await queue.get_items(2) == ["a", "b"]
        await queue.ack_items(["a", "b"])
        # Three calls; a script this server had not loaded yet was loaded and called again.
        assert Counting.sent.count("EVALSHA") == 3 + Counting.sent.count("SCRIPT LOAD")
    finally:
        await client.aclose()


@contextlib.contextmanager
def frozen(server: RedisServer) -> Iterator[None]:
    """The server stopped (SIGSTOP) inside the block, running again after it."""
    server.pause()
    try:
        yield
    finally:
        server.resume()


def pool_of(client: redis.asyncio.Redis) -> list[redis.asyncio.Connection]:
    pool = client.connection_pool
    return [*pool._available_connections, *pool._in_use_connections]
