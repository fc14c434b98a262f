"""Calls run side by side, in threads: the sync twin of ``aiopyrq._tasks``.

A ShardedQueue runs its calls to the shards one after the other here (they are short
script calls); only its blocking gets, one per shard, run in threads of their own.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from redis.exceptions import RedisError

from aiopyrq._tasks import SUBSCRIBE_TIMEOUT
from aiopyrq.sync._transport._plain import Unblockable

if TYPE_CHECKING:
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
    """What a call of ``Interruptible.run`` listens to, once it has run ``after`` seconds.

    A message on ``channel`` (``client`` subscribes on a connection of its own, in a thread
    of its own) ends the call; so does ``check``, run once the subscription is confirmed,
    if it says so: it finds what was published before. A call that ends sooner costs a
    thread that waited for nothing.
    """

    client: Any
    channel: str
    check: Callable[[], bool]
    after: float


class Interruptible:
    """The sync twin of ``aiopyrq._tasks.Interruptible``: calls that ``end`` may end early.

    A call runs on the calling thread, its blocking command on a connection held for it
    (``Unblockable``); ``end`` ends that command as a timeout would (CLIENT UNBLOCK). So
    does a thread that listens for the call (``Listen``), when it hears of an item that
    another client delayed or prioritised.
    """

    def __init__(self) -> None:
        """No call running yet."""
        self._lock = threading.Lock()
        self._running: set[Unblockable] = set()
        self._ended = 0  # how many times end() was called

    def mark(self) -> int:
        """A mark to give ``run``: the calls it starts end at once if ``end`` came since."""
        return self._ended

    def run(
        self, call: Callable[[], _Result], since: int, listen: Listen | None = None
    ) -> tuple[bool, _Result | None]:
        """Run the call until it returns; ``end`` ends its blocking command early.

        Args:
            call: The call: one blocking command (a blocking get's wait).
            since: A ``mark()`` taken before what decided to make the call (a get's take):
                if ``end`` was called after it, the call is not made.
            listen: Also end it (and the others) when this says so.

        Returns:
            Whether ``end`` was called meanwhile, and the call's result (None if not made
            or ended: a blocking command ended early replies as if it timed out).
        """
        command = Unblockable()
        with self._lock:
            if self._ended != since:
                return True, None
            self._running.add(command)
        listener = _Listener(listen, self.end) if listen else None
        thread = threading.Thread(target=listener.run, name="aiopyrq-listen", daemon=True) if (
            listener
        ) else None
        try:
            if thread:
                thread.start()
            with command.sending():
                result = call()
        finally:
            with self._lock:
                self._running.discard(command)
            if listener and thread:
                listener.stop()
                thread.join()
        return command.ended, result

    def end(self) -> None:
        """End the calls running now, and those started with a mark taken before now."""
        with self._lock:
            self._ended += 1
            running = list(self._running)
        for command in running:
            command.unblock()


class _Listener:
    """What listens for a call (``Listen``), in a thread of its own, until ``stop``."""

    def __init__(self, listen: Listen, heard: Callable[[], None]) -> None:
        """Not started; ``heard`` is called when the check or a message says so."""
        self.listen = listen
        self._heard = heard
        self._stopped = threading.Event()
        self._lock = threading.Lock()  # keeps stop() and the pubsub's opening and closing apart
        self._pubsub: Any = None
        self._subscribing = False  # SUBSCRIBE sent on the pubsub

    def run(self) -> None:
        """After ``listen.after`` seconds, call ``heard`` if the check or the channel says so.

        Not heard (a user who may not subscribe): nothing ends.
        """
        if self._stopped.wait(self.listen.after):
            return
        with self._lock:
            if self._stopped.is_set():
                return
            self._pubsub = self.listen.client.pubsub()
        heard = False
        try:
            heard = self._subscribed() and (self.listen.check() or self._published())
        except RedisError:  # best effort: the call runs to its end
            pass
        finally:
            with self._lock:
                self._pubsub.close()
                self._pubsub = None
        if heard and not self._stopped.is_set():
            self._heard()

    def _subscribed(self) -> bool:
        """Subscribe to the channel; whether Redis confirmed it in ``SUBSCRIBE_TIMEOUT``."""
        with self._lock:
            if self._stopped.is_set():
                return False
            self._pubsub.subscribe(self.listen.channel)
            self._subscribing = True
        deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
        while (left := deadline - time.monotonic()) > 0 and not self._stopped.is_set():
            message = self._pubsub.get_message(timeout=left)
            if message is not None:
                return bool(message["type"] == "subscribe")
        return False

    def _published(self) -> bool:
        """Wait for the first message on the channel: True, or False once ``stop`` came."""
        for message in self._pubsub.listen():
            if self._stopped.is_set():
                return False
            if message["type"] == "message":
                return True
        return False

    def stop(self) -> None:
        """End the listening: the call has ended. What ``run`` waits for ends at once."""
        with self._lock:
            self._stopped.set()
            if self._pubsub is not None and self._subscribing:
                with contextlib.suppress(RedisError):  # its reply ends the wait for a message
                    self._pubsub.unsubscribe(self.listen.channel)
