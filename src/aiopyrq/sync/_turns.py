"""One blocked get per queue and client: the other threads wait their turn.

The sync twin of ``aiopyrq._turns`` (read it for why): the threads of one process that
wait on one queue with one client take turns, one of them blocking in Redis.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis import Redis
    from redis.cluster import RedisCluster

_TURNS: weakref.WeakKeyDictionary[Redis | RedisCluster, dict[str, Turns]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def turns_of(client: Redis | RedisCluster, key: str) -> Turns:
    """The turns of the threads blocking on one queue key with one client."""
    with _LOCK:
        turns = _TURNS.setdefault(client, {})
        return turns.setdefault(key, Turns())


class Turns:
    """Whether a thread blocks on the queue now, and the threads waiting for their turn."""

    def __init__(self) -> None:
        self.busy = False
        self._changed = threading.Condition()

    def enter(self) -> bool:
        """Take the turn to block on the queue, unless another thread has it: whether taken."""
        with self._changed:
            if self.busy:
                return False
            self.busy = True
            return True

    def leave(self) -> None:
        """The blocking thread is done: the next thread waiting takes its turn."""
        with self._changed:
            self.busy = False
            self._changed.notify()

    def wait(self, seconds: float) -> None:
        """Wait until the blocking thread leaves, or seconds have passed."""
        with self._changed:
            if self.busy:
                self._changed.wait(seconds)
