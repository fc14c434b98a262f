"""Calls run side by side, in threads: the sync twin of ``aiopyrq._tasks``.

A ShardedQueue runs its calls to the shards one after the other here (they are short
script calls); only its blocking gets, one per shard, run in threads of their own.
"""

from __future__ import annotations

import concurrent.futures
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Callable, Iterable

_Result = TypeVar("_Result")

Task = concurrent.futures.Future
"""A call running in a thread of its own, started by ``start``: ``done()``, ``result()``."""


def settled(calls: Iterable[Callable[[], _Result]]) -> list[_Result | BaseException]:
    """Run the calls, each to its end; their results or errors, in order."""
    outcomes: list[_Result | BaseException] = []
    for call in calls:
        try:
            outcomes.append(call())
        except BaseException as error:  # noqa: BLE001, PERF203 - the caller raises it
            outcomes.append(error)
    return outcomes


def gathered(calls: Iterable[Callable[[], _Result]]) -> list[_Result]:
    """Run the calls; their results in order, or the first error."""
    return [call() for call in calls]


def start(call: Callable[[], _Result]) -> Task[_Result]:
    """Start the call in a thread of its own (a daemon: it never holds up the exit)."""
    task: Task[_Result] = concurrent.futures.Future()

    def run() -> None:
        try:
            task.set_result(call())
        except BaseException as error:  # noqa: BLE001 - handed to whoever reads the result
            task.set_exception(error)

    threading.Thread(target=run, name="aiopyrq-blocking-get", daemon=True).start()
    return task


def first_done(tasks: Iterable[Task[Any]], timeout: float) -> None:
    """Wait until one of the tasks is done, at most timeout seconds."""
    concurrent.futures.wait(list(tasks), timeout=timeout, return_when="FIRST_COMPLETED")


def stop(tasks: Iterable[Task[Any]]) -> None:
    """Wait until the tasks have ended (a thread cannot be cancelled); drop their results.

    Each is a blocking get, bounded by its wait: what it took is in this consumer's
    processing list, for the release that follows to give back.
    """
    concurrent.futures.wait(list(tasks))


def guard() -> contextlib.AbstractContextManager[object]:
    """A lock that keeps bookkeeping whole while other threads use the same object."""
    return threading.RLock()


@dataclass(frozen=True)
class Listen:
    """The asyncio twin's ``Listen``, which the sync ``Interruptible.run`` does not hear."""

    client: Any
    channel: str
    check: Callable[[], bool]
    after: float


class Interruptible:
    """The sync twin of ``aiopyrq._tasks.Interruptible``, whose calls run to their end.

    A thread blocked reading a socket cannot be stopped without closing the connection, so
    ``end`` does nothing: a sync waiting get that another call of its object delays an item
    for finds it at the end of its wait.
    """

    def mark(self) -> int:
        """Nothing to mark: ``end`` does nothing here."""
        return 0

    def run(
        self,
        call: Callable[[], _Result],
        since: int,  # noqa: ARG002 - the asyncio twin's signature
        listen: Listen | None = None,  # noqa: ARG002
    ) -> tuple[bool, _Result | None]:
        """Run the call to its end, listening to nothing: (False, its result)."""
        return False, call()

    def end(self) -> None:
        """Nothing: calls run to their end here."""
