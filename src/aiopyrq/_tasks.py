"""Calls run side by side: asyncio tasks here, threads in the sync twin (``aiopyrq.sync._tasks``).

What ShardedQueue needs to run one call per shard at once and to block on every shard, in
words that mean the same in both twins, so that its code is written once.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from redis.exceptions import RedisError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

_Result = TypeVar("_Result")

SUBSCRIBE_TIMEOUT = 1.0
"""Seconds a ``Listen`` waits for Redis to confirm its subscription."""

CANCEL_AGAIN = 0.01
"""Seconds after which a cancelled task still running is cancelled again."""

Task = asyncio.Task
"""A call running on its own, started by ``start``: ``done()``, ``result()``."""


async def settled(
    calls: Iterable[Callable[[], Awaitable[_Result]]],
) -> list[_Result | BaseException]:
    """Run the calls at once, each to its end; their results or errors, in order."""
    return await asyncio.gather(*(call() for call in calls), return_exceptions=True)


async def gathered(calls: Iterable[Callable[[], Awaitable[_Result]]]) -> list[_Result]:
    """Run the calls at once; their results in order, or the first error."""
    return list(await asyncio.gather(*(call() for call in calls)))


def start(call: Callable[[], Awaitable[_Result]]) -> Task[_Result]:
    """Start the call on its own; it runs until it ends or ``stop`` stops it."""
    return asyncio.create_task(call())  # type: ignore[arg-type]


async def first_done(tasks: Iterable[Task[Any]], timeout: float) -> None:
    """Wait until one of the tasks is done, at most timeout seconds."""
    await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)


async def stop(tasks: Iterable[Task[Any]]) -> None:
    """Stop the tasks and wait until they have ended; their results are dropped."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def guard() -> contextlib.AbstractContextManager[object]:
    """What keeps bookkeeping between two awaits whole: nothing, in one event loop.

    The sync twin's is a lock: there, other threads may run at any time.
    """
    return contextlib.nullcontext()


@dataclass(frozen=True)
class Listen:
    """What a call of ``Interruptible.run`` listens to, once it has run ``after`` seconds.

    A message on ``channel`` (``client`` subscribes on a connection of its own) ends the
    call; so does ``check``, run once the subscription is confirmed, if it says so: it
    finds what was published before. A call that ends sooner costs nothing.
    """

    client: Any
    channel: str
    check: Callable[[], Awaitable[bool]]
    after: float


class Interruptible:
    """Calls of one object that its other calls may end early (``end``), or other clients.

    A Queue's waiting get blocks in Redis; a reject with a delay by the same object ends
    that wait, so that the get learns when the item is due instead of waiting it out; so
    does an item delayed by any other client, heard on a channel (``Listen``).
    """

    def __init__(self) -> None:
        """No call running yet."""
        self._ends: set[asyncio.Future[None]] = set()
        self._ended = 0  # how many times end() was called

    def mark(self) -> int:
        """A mark to give ``run``: the calls it starts end at once if ``end`` came since."""
        return self._ended

    async def run(
        self, call: Callable[[], Awaitable[_Result]], since: int, listen: Listen | None = None
    ) -> tuple[bool, _Result | None]:
        """Run the call until it returns or ``end`` ends it (then it is cancelled).

        Args:
            call: The call.
            since: A ``mark()`` taken before what decided to make the call (a get's take):
                if ``end`` was called after it, the call is not made.
            listen: Also end it (and the others) when this says so.

        Returns:
            Whether ``end`` was called meanwhile, and the call's result (None if not made
            or cancelled).
        """
        if self._ended != since:
            return True, None
        running = asyncio.ensure_future(call())
        ended = asyncio.get_running_loop().create_future()
        self._ends.add(ended)
        listener = asyncio.ensure_future(self._listen(listen)) if listen else None
        try:
            await asyncio.wait({running, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._ends.discard(ended)
            if listener is not None:
                await _cancelled(listener)
            if not running.done():
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
        if running.cancelled():
            return True, None
        return ended.done(), running.result()

    async def _listen(self, listen: Listen) -> None:
        """After ``listen.after`` seconds, end the calls when the check or the channel says so.

        Its connection is closed when it ends or is cancelled. Not heard (a user who may not
        subscribe): nothing ends.
        """
        await asyncio.sleep(listen.after)
        pubsub = listen.client.pubsub()
        try:
            heard = await _subscribed(pubsub, listen.channel) and (
                await listen.check() or await _published(pubsub)
            )
        finally:
            await asyncio.shield(pubsub.aclose())  # closed even if cancelled again
        if heard:
            self.end()

    def end(self) -> None:
        """End the calls running now, and those started with a mark taken before now."""
        self._ended += 1
        for ended in self._ends:
            if not ended.done():
                ended.set_result(None)


async def _cancelled(task: Task[Any]) -> None:
    """Cancel the task until it has ended; its result or error is dropped.

    A cancel can be lost: Python 3.11's ``asyncio.wait_for`` (in redis-py) drops one that
    comes as the reply it waits for does, and the task goes on to its next await.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_AGAIN)
    if not task.cancelled():
        task.exception()  # retrieved: no "never retrieved" warning


async def _subscribed(pubsub: Any, channel: str) -> bool:  # noqa: ANN401
    """Subscribe to the channel; whether Redis confirmed it in ``SUBSCRIBE_TIMEOUT``."""
    try:
        await pubsub.subscribe(channel)
        deadline = asyncio.get_running_loop().time() + SUBSCRIBE_TIMEOUT
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            message = await pubsub.get_message(timeout=left)
            if message is not None and message["type"] == "subscribe":
                return True
    except RedisError:
        pass
    return False


async def _published(pubsub: Any) -> bool:  # noqa: ANN401
    """Wait for the first message on the subscribed channel: True, or False if it closed."""
    async for message in pubsub.listen():
        if message["type"] == "message":
            return True
    return False
