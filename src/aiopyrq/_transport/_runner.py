"""Script calls by SHA, loaded again when Redis has forgotten them, on the client's path.

``run`` sends one call; ``run_all`` sends several in one round trip on one connection,
followed there by the commands of a follow-up (WAIT and WAITAOF: ``aiopyrq._durability``),
whose replies the follow-up checks. This module knows nothing of what those commands are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from aiopyrq._transport import _plain
from aiopyrq._transport._choice import path

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.asyncio import Redis
    from redis.typing import EncodableT

    from aiopyrq._scripts import Call

    Client = Redis | RedisCluster

_RELOADS = 2  # a SCRIPT FLUSH racing the reload itself gets a second chance


class FollowUp(Protocol):
    """Commands sent after the writes of a round trip, on their connection."""

    def commands(self) -> list[tuple[EncodableT, ...]]:
        """The commands to send after the writes."""
        ...  # pragma: no cover

    def check(self, replies: Sequence[Any]) -> None:
        """Raise if the replies to ``commands()`` fall short."""
        ...  # pragma: no cover


async def send(client: Client, *args: EncodableT, raw: bool = False) -> Any:  # noqa: ANN401 - a Redis reply
    """Send one command that is not a script call and return its reply (bytes if raw)."""
    await _ready(client)
    return await _plain.execute(client, *args, raw=raw)


async def run(client: Client, call: Call, *, shared: bool = True, raw: bool = False) -> Any:  # noqa: ANN401 - the script's reply
    """Send one call, loading its script again if Redis has forgotten it.

    Args:
        client: The client.
        call: The call.
        shared: The call is small: on the fast path it may share a round trip with others.
        raw: Return the reply's strings as bytes, even on a client that decodes.

    Returns:
        The reply.
    """
    await _ready(client)
    execute = path(client).execute
    for _ in range(_RELOADS):
        try:
            return await execute(client, *call.args, shared=shared, raw=raw)
        except NoScriptError:  # noqa: PERF203 - the rare path, after a SCRIPT FLUSH or failover
            if call.script is None:
                raise
            await execute(client, "SCRIPT LOAD", call.script.source)
    return await execute(client, *call.args, shared=shared, raw=raw)


async def _ready(client: Client) -> None:
    """Let a cluster client learn the slot map before its first command.

    redis-py's cluster client, first used by many tasks at once, may close connections
    that other tasks are writing to; learning the map first (once: later a no-op) spares
    every call that.
    """
    if isinstance(client, RedisCluster):
        await client.initialize()


async def run_all(
    client: Client, calls: Sequence[Call], follow_up: FollowUp | None = None
) -> list[Any]:
    """Send calls in one round trip on one connection, then the follow-up's commands there.

    The calls are not a transaction: each is atomic on its own. On a cluster, every call
    must touch the one hash slot of its structure.

    Args:
        client: The Redis or RedisCluster client.
        calls: The commands to send, in order.
        follow_up: What to send after the calls, and check (WAIT, WAITAOF).

    Returns:
        The replies, in the order of the calls.
    """
    if follow_up is None and len(calls) == 1:
        return [await run(client, calls[0])]
    replies: list[Any] = [None] * len(calls)
    pending = list(range(len(calls)))
    for attempt in range(_RELOADS + 1):
        pending = await _round(client, calls, pending, replies, follow_up, last=attempt == _RELOADS)
        if not pending:
            break
        for script in {calls[i].script for i in pending}:
            if script is not None:
                await send(client, "SCRIPT LOAD", script.source)
    return replies


async def _round(  # noqa: PLR0913 - one pipeline's whole state
    client: Client,
    calls: Sequence[Call],
    pending: list[int],
    replies: list[Any],
    follow_up: FollowUp | None,
    *,
    last: bool,
) -> list[int]:
    """Send the pending calls in one pipeline, store their replies.

    Returns:
        The calls whose script Redis did not know, to send again once it is loaded.
    """
    after = [] if follow_up is None else follow_up.commands()
    commands = [calls[i].args for i in pending] + after
    results = await path(client).pipeline(client, commands, calls[pending[0]].key)
    forgotten = []
    for i, result in zip(pending, results, strict=False):
        if isinstance(result, NoScriptError) and calls[i].script is not None and not last:
            forgotten.append(i)
        elif isinstance(result, Exception):
            raise result
        else:
            replies[i] = result
    # The waits cover what this round wrote; a round that wrote nothing (the script was
    # unknown) has nothing to wait for, and its calls are sent again with waits of their own.
    if follow_up is not None and len(forgotten) < len(pending):
        follow_up.check(results[len(pending) :])
    return forgotten
