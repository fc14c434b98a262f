"""One blocked get per queue and client: the other tasks of the process wait their turn.

When a batch is added to an empty queue, Redis hands one item to each consumer blocked in
BLMOVE: with eight of them waiting, a batch of 100 went out as one batch of 93 and seven of
one, each of those paying a full get and ack. Here the tasks of one client that wait on one
queue take turns instead: one of them blocks in Redis; the others wait in the
process, and when the blocking task leaves with its batch it wakes the next one, which first takes
what is left, then blocks in its turn. An idle consumer still costs Redis one blocked
command, and an item added to an empty queue still reaches a waiting task at once.
"""

from __future__ import annotations

import asyncio
import collections
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster

_TURNS: weakref.WeakKeyDictionary[Redis | RedisCluster, dict[str, Turns]] = (
    weakref.WeakKeyDictionary()
)


def turns_of(client: Redis | RedisCluster, key: str) -> Turns:
    """The turns of the tasks blocking on one queue key with one client."""
    turns = _TURNS.setdefault(client, {})
    return turns.setdefault(key, Turns())


class Turns:
    """Whether a task blocks on the queue now, and the tasks waiting for their turn."""

    def __init__(self) -> None:
        self.busy = False
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    def enter(self) -> bool:
        """Take the turn to block on the queue, unless another task has it: whether taken."""
        if self.busy:
            return False
        self.busy = True
        return True

    def leave(self) -> None:
        """The blocking task is done: the next task waiting takes its turn."""
        self.busy = False
        self._wake_one()

    async def wait(self, seconds: float) -> None:
        """Wait until the blocking task leaves, or seconds have passed."""
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        woken = False
        try:
            await asyncio.wait_for(turn, seconds)
            woken = True
        except asyncio.TimeoutError:
            pass
        finally:
            if not woken and turn.done() and not turn.cancelled():
                self._wake_one()  # woken, but leaving (cancelled or timed out): pass it on

    def _wake_one(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
