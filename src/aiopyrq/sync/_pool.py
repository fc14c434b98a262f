# Generated from src/aiopyrq/_pool.py by `make unasync`: do not edit.
"""Pool: a sorted set of recurring items, each handed out when it is due."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from aiopyrq import _scripts
from aiopyrq._dead import bounded
from aiopyrq._delay import check_delay
from aiopyrq.sync._base import (
    CHUNK_ITEMS,
    Structure,
    check_int,
    check_item,
    check_items,
    check_wait,
    chunked,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from redis import ConnectionPool, Redis
    from redis.cluster import RedisCluster
    from redis.typing import EncodableT

    from aiopyrq._durability import Durability
    from aiopyrq.sync._types import Item, Kind

DEFAULT_CHUNK_SIZE = 100
DEFAULT_ACK_TTL = 600  # seconds
DEFAULT_ACK_VALID_FOR = 129600  # seconds
_POLL = 1.0  # seconds: how often a waiting get looks for items added meanwhile


class Pool(Structure):
    """A pool of recurring items, each processed again once it is due.

    The pool is the sorted set ``NAME``: item -> unix time it is due. ``get_items`` hands
    out due items and marks them in flight (a score with the fraction ``.1``); an item in
    flight is due again ``ack_ttl`` seconds after it was handed out unless it is
    acknowledged, and an acknowledged item is due again ``ack_valid_for`` seconds after the
    acknowledgement. Times are the Redis server's clock.

    A Pool has no leases, processing lists or dead letters: ``reject_items``, ``release``,
    ``heartbeat``, recovery and the dead-letter methods, there for the contract that every
    structure shares (``aiopyrq.sync._types.Consumable``), have nothing to do and write nothing.

    Args:
        name: The name of the pool, its key.
        redis: A ``redis.Redis`` client, or a ``ConnectionPool`` to make one.
        chunk_size: How many items ``get_all_items`` takes per call.
        ack_ttl: Seconds before an item handed out and not acknowledged is due again.
        ack_valid_for: Seconds before an acknowledged item is due again.
        durability: What each write waits for (``aiopyrq.Durability``), in place of the
            five options that follow (giving both is a TypeError).
        synced_slaves_enabled: After each write, wait for replicas to acknowledge it.
        synced_slaves_count: How many replicas must acknowledge a write (default 0).
        synced_slaves_timeout: How long to wait for them (and for fsyncs), in milliseconds
            (default 100).
        fsync_local: After each write, wait until the master's append-only file has it.
        fsync_replicas: After each write, wait until this many replicas' files have it.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An argument is out of range.
    """

    kind: ClassVar[Kind] = "pool"
    leases: ClassVar[bool] = False
    shard_names: ClassVar[tuple[str, ...]] = ()

    _add: ClassVar[_scripts.Script] = _scripts.load("pool_add-3")
    _get: ClassVar[_scripts.Script] = _scripts.load("pool_get-2")
    _ack: ClassVar[_scripts.Script] = _scripts.load("pool_ack-2")
    _remove: ClassVar[_scripts.Script] = _scripts.load("pool_remove-2")
    _count_due: ClassVar[_scripts.Script] = _scripts.load("pool_count_due-1")
    _next_due: ClassVar[_scripts.Script] = _scripts.load("pool_next_due-1")

    def __init__(  # noqa: PLR0913 - the original library's options
        self,
        name: str,
        redis: Redis | RedisCluster | ConnectionPool,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        ack_ttl: int = DEFAULT_ACK_TTL,
        ack_valid_for: int = DEFAULT_ACK_VALID_FOR,
        durability: Durability | None = None,
        synced_slaves_enabled: bool | None = None,
        synced_slaves_count: int | None = None,
        synced_slaves_timeout: int | None = None,
        fsync_local: bool | None = None,
        fsync_replicas: int | None = None,
    ) -> None:
        super().__init__(
            name,
            redis,
            durability=durability,
            synced_slaves_enabled=synced_slaves_enabled,
            synced_slaves_count=synced_slaves_count,
            synced_slaves_timeout=synced_slaves_timeout,
            fsync_local=fsync_local,
            fsync_replicas=fsync_replicas,
        )
        self.chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
        self.ack_ttl = check_int(ack_ttl, "ack_ttl", minimum=1)
        self.ack_valid_for = check_int(ack_valid_for, "ack_valid_for")

    def get_count(self) -> int:
        """Return the number of items in the pool, due or not."""
        return int(self._read("ZCARD", self.keys.queue))

    def get_count_to_process(self) -> int:
        """Return the number of items due now."""
        return int(self._script(self._count_due, [self.keys.queue], [], write=False))

    def is_in_pool(self, item: Item) -> bool:
        """Tell whether item is in the pool."""
        return self._read("ZSCORE", self.keys.queue, check_item(item)) is not None

    def add_item(self, item: Item) -> None:
        """Add an item, due now; an item in the pool already becomes due now."""
        self.add_items([item])

    def add_items(self, items: Iterable[Item]) -> None:
        """Add items, due now, in one script call."""
        keys = [self.keys.queue, self.keys.wakeup, self.keys.history]
        for chunk in chunked(self._new_items(items)):
            if chunk:
                self._script(self._add, keys, [self._pack(chunk)], items=len(chunk))

    def get_items(self, count: int, wait: float | None = None) -> list[Any]:
        """Hand out up to count due items, earliest due first.

        Each is not handed out again before ``ack_ttl`` seconds have passed.

        Args:
            count: The most items to hand out.
            wait: If none is due, wait up to this many seconds for one: until items are
                added (a blocking pop on ``NAME-wakeup``), the next item is due, or a second
                has passed (items added by the original library wake nobody).

        Raises:
            TypeError: count is not an int.
            ValueError: count or wait is negative.
        """
        if check_int(count, "count") == 0:
            return []
        deadline = time.monotonic() + (0.0 if wait is None else check_wait(wait))
        while True:
            items = self._hand_out(count)
            left = deadline - time.monotonic()
            if items or left <= 0:
                return items
            due_in = float(self._script(self._next_due, [self.keys.queue], [], write=False))
            block = min(left, _POLL if due_in < 0 else max(due_in, 0.01), _POLL)
            self._read("BLPOP", self.keys.wakeup, self._block_for(block))

    def _hand_out(self, count: int) -> list[Any]:
        """Hand out up to count due items, in calls of at most CHUNK_ITEMS."""
        handed: list[Any] = []
        while True:
            want = min(count - len(handed), CHUNK_ITEMS)
            items = self._items(
                self._script(
                    self._get,
                    [self.keys.queue, self.keys.history],
                    [want, self.ack_ttl],
                    write=False,
                    items=want,
                    raw=True,
                )
            )
            if count <= CHUNK_ITEMS:
                return items
            handed += items
            if len(items) < want or len(handed) == count:
                return handed

    def get_all_items(self) -> list[Any]:
        """Hand out every due item, ``chunk_size`` per script call."""
        result: list[Any] = []
        while True:
            chunk = self.get_items(self.chunk_size)
            result += chunk
            if len(chunk) < self.chunk_size:
                return result

    def ack_item(self, item: Item) -> None:
        """Acknowledge an item handed out: it is due again after ``ack_valid_for``."""
        self.ack_items([item])

    def ack_items(self, items: Iterable[Item]) -> None:
        """Acknowledge items handed out, in one script call; others are left as they are."""
        checked = check_items(items)
        if checked:
            args: list[EncodableT] = [self.ack_valid_for, self._pack(checked)]
            keys = [self.keys.queue, self.keys.history]
            self._script(self._ack, keys, args, items=len(checked))

    def remove_item(self, item: Item) -> None:
        """Remove an item handed out and not acknowledged yet (processed for the last time)."""
        self.remove_items([item])

    def remove_items(self, items: Iterable[Item]) -> None:
        """Remove items handed out and not acknowledged yet, in one script call."""
        checked = check_items(items)
        if checked:
            keys = [self.keys.queue, self.keys.history]
            self._script(self._remove, keys, [self._pack(checked)], items=len(checked))

    def delete_item(self, item: Item) -> None:
        """Delete an item from the pool, in flight or not."""
        self.delete_items([item])

    def delete_items(self, items: Iterable[Item]) -> None:
        """Delete items from the pool, in flight or not, in one command."""
        checked = check_items(items)
        if checked:
            self._write([_scripts.Call(("ZREM", self.keys.queue, *checked))])

    def clear_pool(self) -> None:
        """Delete every item of the pool."""
        self._write([_scripts.Call(("UNLINK", self.keys.queue, self.keys.wakeup))])

    def reject_items(
        self,
        items: Iterable[Item],
        delay: float | Callable[[int], float] | None = None,
        *,
        reason: str | None = None,
    ) -> int:
        """Leave items handed out as they are: each is due again ``ack_ttl`` after it was.

        ``delay`` and ``reason`` are checked and have no effect: an item's own schedule
        says when it is due, and it never dies.

        Returns:
            0: a Pool has no dead letters.
        """
        if delay is not None and not callable(delay):
            check_delay(delay)
        if reason is not None:
            bounded(reason)
        check_items(items)
        return 0

    def release(self) -> int:
        """Nothing to give back: an item handed out is due again after ``ack_ttl``; 0."""
        return 0

    def heartbeat(self) -> None:
        """Nothing to renew: a Pool hands out items without a lease."""

    def recover(self, lease_timeout: int = 30, interval: float = 5.0) -> int:
        """Nothing to recover: an item not acked is due again after ``ack_ttl``; 0."""
        del lease_timeout, interval
        return 0

    def re_enqueue_timeout_items(self, timeout: int = DEFAULT_ACK_TTL) -> int:
        """Nothing to recover: an item not acked is due again after ``ack_ttl``; 0."""
        del timeout
        return 0

    def drop_timeout_items(self, timeout: int = DEFAULT_ACK_TTL) -> int:
        """Nothing to drop: a Pool holds no consumer's items; 0."""
        del timeout
        return 0

    def get_dead_count(self) -> int:
        """A Pool has no dead letters: 0."""
        return 0

    def get_dead_items(self, count: int = 100, *, details: bool = False) -> list[Any]:
        """A Pool has no dead letters: an empty list."""
        del details
        check_int(count, "count")
        return []

    def requeue_dead_items(self, items: Iterable[Item] | None = None) -> int:
        """A Pool has no dead letters: 0."""
        if items is not None:
            check_items(items)
        return 0

    def purge_dead_items(self) -> int:
        """A Pool has no dead letters: 0."""
        return 0


