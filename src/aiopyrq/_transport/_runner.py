"""Script calls by SHA, loaded again when Redis has forgotten them, on the client's path.

``run`` sends one call; ``run_all`` sends several in one round trip on one connection,
followed there by the commands of a follow-up (WAIT and WAITAOF: ``aiopyrq._durability``),
whose replies the follow-up checks. This module knows nothing of what those commands are.

On a cluster, a call whose hash slot is being moved to another master is answered ASK,
TRYAGAIN or MOVED until the move is done (its keys are split between the two masters, or
its call key, new, is missing on both). redis-py follows such replies a few times, for
about half a second; then the call is sent again here, every ``MOVING_PAUSE`` seconds, for
at most ``MOVING_FOR`` seconds. A call that had run (its reply lost) gets the first run's
reply from its call key, which moves with the slot's other keys.

The same goes for redis-py's ``AttributeError: 'NoneType' object has no attribute
'writelines'`` on a cluster client: when MOVED replies make it rebuild its slot map, it
closes the connections of every node, those other tasks are about to write to included.
Every such error says the command did not run, so commands other than script calls
(``send``: a blocking move, a lock) are sent again too.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Protocol

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import AskError, ClusterError, NoScriptError, TryAgainError

from aiopyrq._transport import _plain
from aiopyrq._transport._choice import path

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.asyncio import Redis
    from redis.typing import EncodableT

    from aiopyrq._scripts import Call

    Client = Redis | RedisCluster

_RELOADS = 2  # a SCRIPT FLUSH racing the reload itself gets a second chance
MOVING_FOR = 10.0  # seconds a call waits, at most, for its slot to finish moving
MOVING_PAUSE = 0.05  # seconds between two sends of a call whose slot is moving


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
    await _plain.ready(client)
    moving = _Moving(client)
    while True:
        try:
            return await _plain.execute(client, *args, raw=raw)
        except (AskError, TryAgainError, ClusterError, AttributeError) as error:  # noqa: PERF203 - rare
            if not await moving.wait(error):
                raise


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
    await _plain.ready(client)
    moving = _Moving(client)
    while True:
        try:
            return await _run(client, call, shared=shared, raw=raw)
        except (AskError, TryAgainError, ClusterError, AttributeError) as error:  # noqa: PERF203 - rare
            if not await moving.wait(error):
                raise


async def _run(client: Client, call: Call, *, shared: bool, raw: bool) -> Any:  # noqa: ANN401 - the script's reply
    """Send one call, loading its script again if Redis has forgotten it."""
    execute = path(client).execute
    for _ in range(_RELOADS):
        try:
            return await execute(client, *call.args, shared=shared, raw=raw)
        except NoScriptError:  # noqa: PERF203 - the rare path, after a SCRIPT FLUSH or failover
            if call.script is None:
                raise
            await execute(client, "SCRIPT LOAD", call.script.source)
    return await execute(client, *call.args, shared=shared, raw=raw)


def _moving(error: BaseException) -> bool:
    """Whether an error says that the call's slot is moving and the call did not run.

    A MOVED or ASK that redis-py did not follow, a TRYAGAIN, redis-py's ``TTL exhausted``
    after it followed such replies again and again, or a connection it closed under the
    call, before the call was written, while it rebuilt its slot map.
    """
    if isinstance(error, AskError | TryAgainError):  # MovedError is an AskError
        return True
    if isinstance(error, AttributeError):
        return str(error) == "'NoneType' object has no attribute 'writelines'"
    return isinstance(error, ClusterError) and "TTL exhausted" in str(error)


class _Moving:
    """How long a call has waited for its slot to finish moving to another master."""

    def __init__(self, client: Client) -> None:
        self.cluster = isinstance(client, RedisCluster)
        self.deadline: float | None = None

    async def wait(self, error: BaseException) -> bool:
        """Pause before the call goes again, if the error says its slot is moving.

        Returns:
            False when the call must fail with the error: not a slot moving, not a cluster,
            or ``MOVING_FOR`` seconds spent waiting already.
        """
        if not (self.cluster and _moving(error)):
            return False
        now = time.monotonic()
        if self.deadline is None:
            self.deadline = now + MOVING_FOR
        if now >= self.deadline:
            return False
        await asyncio.sleep(MOVING_PAUSE)
        return True


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
    reloads = 0
    moving = _Moving(client)
    while pending:
        try:
            forgotten, moved = await _round(
                client, calls, pending, replies, follow_up, last=reloads == _RELOADS
            )
        except (AskError, TryAgainError, ClusterError, AttributeError) as error:
            if not await moving.wait(error):
                raise
            continue
        if forgotten:
            reloads += 1
            for script in {calls[i].script for i in forgotten}:
                if script is not None:
                    await send(client, "SCRIPT LOAD", script.source)
        if moved and not await moving.wait(moved[0][1]):
            raise moved[0][1]
        pending = sorted(forgotten + [i for i, _ in moved])
    return replies


async def _round(  # noqa: PLR0913 - one pipeline's whole state
    client: Client,
    calls: Sequence[Call],
    pending: list[int],
    replies: list[Any],
    follow_up: FollowUp | None,
    *,
    last: bool,
) -> tuple[list[int], list[tuple[int, Exception]]]:
    """Send the pending calls in one pipeline, store their replies.

    Returns:
        The calls whose script Redis did not know, to send again once it is loaded; and
        those refused while their slot moves (with the error), to send again after a pause.
    """
    after = [] if follow_up is None else follow_up.commands()
    commands = [calls[i].args for i in pending] + after
    results = await path(client).pipeline(client, commands, calls[pending[0]].key)
    forgotten = []
    moved = []
    for i, result in zip(pending, results, strict=False):
        if isinstance(result, NoScriptError) and calls[i].script is not None and not last:
            forgotten.append(i)
        elif isinstance(result, Exception) and _moving(result):
            moved.append((i, result))
        elif isinstance(result, Exception):
            raise result
        else:
            replies[i] = result
    # The waits cover what this round wrote; a round that wrote nothing (the script was
    # unknown, the slot moving) has nothing to wait for, and its calls are sent again with
    # waits of their own.
    if follow_up is not None and len(forgotten) + len(moved) < len(pending):
        follow_up.check(results[len(pending) :])
    return forgotten, moved
