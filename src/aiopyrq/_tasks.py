"""Calls run side by side: asyncio tasks here, threads in the sync twin (``aiopyrq.sync._tasks``).

What ShardedQueue needs to run one call per shard at once and to block on every shard, in
words that mean the same in both twins, so that its code is written once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

_Result = TypeVar("_Result")

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


class Interruptible:
    """Calls of one object that its other calls may end early (``end``).

    A Queue's waiting get blocks in Redis; a reject with a delay by the same object ends
    that wait, so that the get learns when the item is due instead of waiting it out.
    """

    def __init__(self) -> None:
        """No call running yet."""
        self._ends: set[asyncio.Future[None]] = set()
        self._ended = 0  # how many times end() was called

    def mark(self) -> int:
        """A mark to give ``run``: the calls it starts end at once if ``end`` came since."""
        return self._ended

    async def run(
        self, call: Callable[[], Awaitable[_Result]], since: int
    ) -> tuple[bool, _Result | None]:
        """Run the call until it returns or ``end`` ends it (then it is cancelled).

        Args:
            call: The call.
            since: A ``mark()`` taken before what decided to make the call (a get's take):
                if ``end`` was called after it, the call is not made.

        Returns:
            Whether ``end`` was called meanwhile, and the call's result (None if not made
            or cancelled).
        """
        if self._ended != since:
            return True, None
        running = asyncio.ensure_future(call())
        ended = asyncio.get_running_loop().create_future()
        self._ends.add(ended)
        try:
            await asyncio.wait({running, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._ends.discard(ended)
            if not running.done():
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
        if running.cancelled():
            return True, None
        return ended.done(), running.result()

    def end(self) -> None:
        """End the calls running now, and those started with a mark taken before now."""
        self._ended += 1
        for ended in self._ends:
            if not ended.done():
                ended.set_result(None)
