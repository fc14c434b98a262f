"""The fast path: script calls at a fraction of the client CPU of ``execute_command``.

A round trip through redis-py's ``execute_command`` costs the client about 90 µs of CPU on a
2-core machine, whatever the command does: a pooled connection borrowed and returned, an
event-loop cycle, and, under a socket timeout (5 s by default since redis-py 6), a task per
write made by Python 3.11's ``asyncio.wait_for``. Two things cut that here:

- one ``asyncio.timeout`` covers a round trip's write and reads, instead of a task per write
  and a timer per read;
- small calls (an item or a few) of a client's tasks share round trips: those issued in one
  turn of the event loop go out in one write on one pooled connection, and their replies are
  read in order. A call of a whole batch goes alone on a connection of its own, so that
  Redis works on it while the client handles the replies of others.

The connections are redis-py's own, lent and checked by the client's pool (address, Sentinel
master, TLS, auth), and a round trip still fails after the client's ``socket_timeout``. A
failure to connect, write or read fails every call of the round trip with redis-py's error,
retried as the client's retry policy says. A call cancelled before its command went out
sends nothing; one cancelled later leaves its reply to be read and dropped.

Only for commands that do not block and whose raw reply is the result (EVALSHA, SCRIPT
LOAD), on a ``Redis`` client that borrows a pool connection per command; anything else goes
through ``execute_command``. On a ``RedisCluster``, a round trip of several commands goes
straight to the master of their slot (``ClusterNode.execute_pipeline``).

It drives redis-py internals (``ConnectionPool.get_connection``, ``send_packed_command``,
``read_response``, ``pack_command``, ``PipelineCommand``): the package chooses it only on the
redis-py versions and connection classes it is proven on (see ``aiopyrq._transport``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
import weakref
from typing import TYPE_CHECKING, Any

from redis import exceptions
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import PipelineCommand, RedisCluster
from redis.exceptions import AskError, MovedError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aiopyrq._transport import _plain

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from redis.asyncio.connection import AbstractConnection
    from redis.typing import EncodableT

    Command = tuple[EncodableT, ...]
    Batch = list[tuple[Command, bool, asyncio.Future[Any]]]  # command, raw reply, its caller

_TIMEOUT_SCOPE = sys.version_info >= (3, 11)  # asyncio.timeout
# redis-py before 5.1 wants a command name to lend a connection; later versions deprecate it.
_NAMED_BORROW = (
    inspect.signature(ConnectionPool.get_connection).parameters["command_name"].default
    is inspect.Parameter.empty
)
_MULTIPLEXERS: weakref.WeakKeyDictionary[Redis, _Multiplexer] = weakref.WeakKeyDictionary()


async def execute(
    client: Redis | RedisCluster, *args: EncodableT, shared: bool = True, raw: bool = False
) -> Any:  # noqa: ANN401
    """Send one command and return its reply, retried as the client retries.

    Args:
        client: The client.
        *args: The command.
        shared: The call is small: it may share a round trip with other small calls.
        raw: Return the reply's strings as bytes, even on a client that decodes.
    """
    if not isinstance(client, Redis) or client.single_connection_client:
        return await _plain.execute(client, *args, raw=raw)
    loop = asyncio.get_running_loop()
    multiplexer = _MULTIPLEXERS.get(client)
    if multiplexer is None or multiplexer.loop is not loop:
        multiplexer = _MULTIPLEXERS[client] = _Multiplexer(client.connection_pool, loop)
    send = multiplexer.call if shared else multiplexer.alone
    retry = client.get_retry()
    if retry is None:
        return await send(args, raw)
    return await retry.call_with_retry(lambda: send(args, raw), _nothing)


async def _nothing(_error: Exception) -> None:
    """After a failure: the round trip has disconnected its connection already."""


async def pipeline(client: Redis | RedisCluster, commands: list[Command], key: str) -> list[Any]:
    """Send commands in one round trip on one connection; errors come back as replies.

    Args:
        client: The client.
        commands: The commands, in order.
        key: A key of the commands: on a cluster, its master gets them all.
    """
    if not isinstance(client, RedisCluster):
        return await _plain.pipeline(client, commands, key)
    # A cluster client would send WAIT to every master: talk to the key's master directly.
    await client.initialize()  # learns the slots on a client's first command; then a no-op
    node = client.get_node_from_key(key)
    if node is None:  # pragma: no cover - get_node_from_key raises for an uncovered slot
        msg = f"no node serves the key {key!r}"
        raise LookupError(msg)
    queued = [PipelineCommand(i, *command) for i, command in enumerate(commands)]
    try:
        await node.execute_pipeline(queued)
    except (exceptions.ConnectionError, exceptions.TimeoutError):
        await client.nodes_manager.initialize()  # the master is gone: learn who took over
        raise
    results = [command.result for command in queued]
    if any(
        isinstance(result, MovedError | AskError | exceptions.ConnectionError) for result in results
    ):
        await client.nodes_manager.initialize()  # the next call goes to the right master
    return results


class _Multiplexer:
    """The calls of every task of one event loop on one client's pool.

    Shared calls wait for the pump, a task that runs while they come: it takes everything
    queued so far through one round trip, hands out the replies, lets the callers queue
    their next commands, and starts over.
    """

    def __init__(self, pool: ConnectionPool, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.loop = loop
        self._queued: Batch = []
        self._pump: asyncio.Task[None] | None = None

    async def alone(self, args: Command, raw: bool) -> Any:  # noqa: ANN401
        """Send one command in a round trip of its own."""
        reply = self.loop.create_future()
        for waiting, outcome in await self._round_trip([(args, raw, reply)]):
            _settle(waiting, outcome)
        return await reply

    async def call(self, args: Command, raw: bool) -> Any:  # noqa: ANN401
        """Queue one command for the pump's next round trip and wait for its reply."""
        reply = self.loop.create_future()
        self._queued.append((args, raw, reply))
        if self._pump is None:
            self._pump = self.loop.create_task(self._run())
        return await reply

    async def _run(self) -> None:
        batch: Batch = []
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                for reply, outcome in await self._round_trip(batch):
                    _settle(reply, outcome)
                await asyncio.sleep(0)  # the calls just answered queue their next commands now
        except BaseException as error:  # the pump cancelled: so are the calls it had
            for _, _, reply in [*batch, *self._queued]:
                _settle(reply, error)
            self._queued = []
            raise
        finally:
            self._pump = None  # no await since the queue was last found empty

    async def _round_trip(self, batch: Batch) -> list[tuple[asyncio.Future[Any], object]]:
        """Write the batch's commands at once and read their replies, on a pool connection.

        The connection goes back to the pool before the calls get their replies, so that what
        they send next through the client finds it there.

        Returns:
            Each call still waiting, with its reply or error.
        """
        try:
            connection = await (
                self.pool.get_connection("EVALSHA")  # type: ignore[no-untyped-call,unused-ignore]
                if _NAMED_BORROW
                else self.pool.get_connection()  # type: ignore[no-untyped-call,unused-ignore]
            )
        except Exception as error:  # noqa: BLE001 - no connection to be had
            return [(reply, error) for _, _, reply in batch]
        packed, sent = _pack(connection, batch)
        outcomes: list[tuple[asyncio.Future[Any], object]] = []
        timeout = connection.socket_timeout
        try:
            async with _timer(connection):
                if sent:
                    await connection.send_packed_command(packed, check_health=False)
                for reply, raw in sent:
                    outcomes.append((reply, await _reply(connection, raw)))
        except Exception as error:  # noqa: BLE001 - every call not answered gets it
            await connection.disconnect(nowait=True)
            if isinstance(error, TimeoutError):  # the timer's; asyncio.TimeoutError on 3.11+
                error = RedisTimeoutError(f"Timeout: no reply from Redis within {timeout} s")
            return outcomes + [(reply, error) for reply, _ in sent[len(outcomes) :]]
        else:
            return outcomes
        finally:
            connection.socket_timeout = timeout
            await self.pool.release(connection)


def _timer(connection: AbstractConnection) -> AbstractAsyncContextManager[Any]:
    """One timer for a round trip: the connection's own timeouts are off inside it.

    The caller restores ``socket_timeout``. Before Python 3.11 (no ``asyncio.timeout``),
    redis-py's timeouts stay.
    """
    timeout = connection.socket_timeout
    if not (_TIMEOUT_SCOPE and timeout):
        return contextlib.nullcontext()
    connection.socket_timeout = None
    return asyncio.timeout(timeout)  # type: ignore[attr-defined,no-any-return,unused-ignore]


def _pack(
    connection: AbstractConnection, batch: Batch
) -> tuple[list[bytes], list[tuple[asyncio.Future[Any], bool]]]:
    """The batch's commands packed, and the calls they answer; a call gone sends nothing."""
    packed: list[bytes] = []
    sent: list[tuple[asyncio.Future[Any], bool]] = []
    for args, raw, reply in batch:
        if reply.done():  # cancelled before it went out
            continue
        try:
            packed += connection.pack_command(*args)
        except Exception as error:  # noqa: BLE001 - an argument redis-py cannot encode
            reply.set_exception(error)
        else:
            sent.append((reply, raw))
    return packed, sent


async def _reply(connection: AbstractConnection, raw: bool) -> object:
    """The next reply (bytes if raw); an error reply is returned, for its call only."""
    try:
        return await connection.read_response(disable_decoding=raw)
    except ResponseError as error:
        return error


def _settle(reply: asyncio.Future[Any], outcome: object) -> None:
    """Give a call its reply or error, unless its caller has gone."""
    if reply.done():
        return
    if isinstance(outcome, Exception):
        reply.set_exception(outcome)
    elif isinstance(outcome, BaseException):  # the pump itself was cancelled
        reply.cancel()
    else:
        reply.set_result(outcome)
