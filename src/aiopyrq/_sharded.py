"""ShardedQueue: one logical queue spread over several Queues, for more than one Redis core."""

from __future__ import annotations

import asyncio
import itertools
import zlib
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any

from aiopyrq._base import check_int, check_items, check_name, check_wait
from aiopyrq._queue import Queue
from aiopyrq._unique_queue import UniqueQueue

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from redis.asyncio import ConnectionPool, Redis
    from redis.asyncio.cluster import RedisCluster

    from aiopyrq._base import Item


class ShardedQueue:
    """A queue spread over ``shards`` Queues (or UniqueQueues), one hash slot each.

    On a Redis Cluster the shards ``NAME:0`` ... ``NAME:<n-1>`` live in different slots,
    so on different masters: producers spread each batch over the shards, consumers take
    from all of them. Every shard is a full Queue with its own processing lists,
    recovery and dead letters; counts add up over the shards. Order holds within a shard
    only. Give the name no hash tag of its own, or all shards share one slot.

    This object is one consumer: it remembers which shard each item it holds came from,
    so acks and rejects go to that shard. A get that waits blocks on every shard at once;
    an item that arrives on one shard while another answered is kept for the next get,
    and given back to its shard by ``release()``.

    Args:
        name: The logical queue's name.
        redis: A ``redis.asyncio.Redis`` or ``RedisCluster`` client, or a ConnectionPool.
        shards: How many shards, at least 1.
        unique: Use UniqueQueues (uniqueness then holds per shard: an item always goes to
            the same shard, chosen by its hash).
        **options: The options of Queue (``max_deliveries``, ``synced_slaves_*`` ...).
    """

    def __init__(
        self,
        name: str,
        redis: Redis | RedisCluster | ConnectionPool,
        *,
        shards: int,
        unique: bool = False,
        **options: Any,  # noqa: ANN401 - Queue's options, checked there
    ) -> None:
        self.name = check_name(name)
        kind = UniqueQueue if unique else Queue
        count = check_int(shards, "shards", minimum=1)
        self.shards: list[Queue] = [kind(f"{name}:{i}", redis, **options) for i in range(count)]
        self.unique = unique
        self._next = itertools.cycle(range(count))
        self._held: defaultdict[Any, deque[int]] = defaultdict(deque)
        self._early: list[tuple[int, Any]] = []  # items a blocking get moved after another won
        self._blocked: dict[int, asyncio.Task[Any]] = {}

    def _shard_of(self, item: Item, start: int, position: int) -> int:
        if self.unique:  # the same item always lands on the same shard, from any process
            return zlib.crc32(_encode(item)) % len(self.shards)
        return (start + position) % len(self.shards)

    async def _each(self, jobs: dict[int, Callable[[Queue], Awaitable[Any]]]) -> dict[int, Any]:
        """Run a job per shard, all at once; return the results by shard."""
        shards = list(jobs)
        results = await asyncio.gather(*(jobs[i](self.shards[i]) for i in shards))
        return dict(zip(shards, results, strict=True))

    async def _sum(self, method: str, *args: Any) -> int:  # noqa: ANN401
        """Call ``shard.<method>(*args)`` on every shard at once; add up the results."""
        return sum(await asyncio.gather(*(getattr(shard, method)(*args) for shard in self.shards)))

    async def get_count(self) -> int:
        """Return the number of items waiting in all shards."""
        return await self._sum("get_count")

    async def add_item(self, item: Item) -> None:
        """Add one item to a shard."""
        await self.add_items([item])

    async def add_items(self, items: Iterable[Item]) -> None:
        """Spread items over the shards: one call per shard, all at once."""
        checked = check_items(items)
        start = next(self._next)
        parts: defaultdict[int, list[Item]] = defaultdict(list)
        for position, item in enumerate(checked):
            parts[self._shard_of(item, start, position)].append(item)
        await self._each({i: _call("add_items", part) for i, part in parts.items()})

    async def get_items(self, count: int, wait: float | None = None) -> list[Any]:
        """Take up to count items from the shards; with wait, block on all of them.

        Returns:
            The items, in each shard's order.
        """
        if check_int(count, "count") == 0:
            return []
        self._harvest()
        taken = self._take_early(count)
        if len(taken) < count:
            start = next(self._next)
            shares = {
                (start + i) % len(self.shards): count_
                for i, count_ in enumerate(_split(count - len(taken), len(self.shards)))
                if count_
            }
            got = await self._each({i: _call("get_items", n) for i, n in shares.items()})
            taken += [(i, item) for i, items in got.items() for item in items]
        if not taken and wait is not None and check_wait(wait) > 0:
            taken = await self._block(wait)
        for shard, item in taken:
            self._held[item].append(shard)
        return [item for _, item in taken]

    def _take_early(self, count: int) -> list[tuple[int, Any]]:
        taken, self._early = self._early[:count], self._early[count:]
        return taken

    def _harvest(self) -> None:
        """Keep the items of blocking gets that ended since the last call."""
        for i, task in list(self._blocked.items()):
            if task.done():
                del self._blocked[i]
                self._early += [(i, item) for item in task.result()]

    async def _block(self, wait: float) -> list[tuple[int, Any]]:
        """Block on every shard until one has an item, at most wait seconds.

        The blocking gets that have not ended go on, and their items are kept for the next
        call; each is one BLMOVE on its shard, into this consumer's processing list there.
        """
        for i, shard in enumerate(self.shards):
            if i not in self._blocked:
                self._blocked[i] = asyncio.create_task(shard.get_items(1, wait=wait))
        await asyncio.wait(
            self._blocked.values(), timeout=wait, return_when=asyncio.FIRST_COMPLETED
        )
        self._harvest()
        return self._take_early(len(self._early))

    async def ack_item(self, item: Item) -> None:
        """Acknowledge one item."""
        await self.ack_items([item])

    async def ack_items(self, items: Iterable[Item]) -> None:
        """Acknowledge items, each on the shard it came from."""
        parts = self._by_shard(check_items(items))
        await self._each({i: _call("ack_items", part) for i, part in parts.items()})

    async def reject_item(self, item: Item) -> int:
        """Reject one item: back to the front of its shard (or to its dead letters)."""
        return await self.reject_items([item])

    async def reject_items(self, items: Iterable[Item]) -> int:
        """Reject items, each back to the front of the shard it came from.

        Returns:
            How many of the items went to the dead-letter lists.
        """
        parts = self._by_shard(check_items(items))
        dead = await self._each({i: _call("reject_items", part) for i, part in parts.items()})
        return sum(dead.values())

    def _by_shard(self, items: list[Item]) -> dict[int, list[Item]]:
        """Group held items by the shard they came from; forget them as held."""
        parts: defaultdict[int, list[Item]] = defaultdict(list)
        for item in items:
            shards = self._held.get(item)
            if shards:
                parts[shards.popleft()].append(item)
                if not shards:
                    del self._held[item]
        return parts

    async def heartbeat(self) -> None:
        """Renew this consumer's lease on every shard."""
        await asyncio.gather(*(shard.heartbeat() for shard in self.shards))

    async def recover(self, lease_timeout: int = 30, interval: float = 5.0) -> int:
        """Recover dead consumers' items on every shard (see Queue.recover)."""
        return await self._sum("recover", lease_timeout, interval)

    async def re_enqueue_timeout_items(self, timeout: int = 7200) -> int:
        """Recover, on every shard, the items of consumers whose lease is older than timeout."""
        return await self._sum("re_enqueue_timeout_items", timeout)

    async def release(self) -> int:
        """Stop blocking, and give every item this consumer holds back to its shard."""
        for task in self._blocked.values():
            task.cancel()
        await asyncio.gather(*self._blocked.values(), return_exceptions=True)
        self._blocked.clear()
        self._early.clear()
        self._held.clear()
        return await self._sum("release")

    async def get_dead_count(self) -> int:
        """Return the number of dead letters in all shards."""
        return await self._sum("get_dead_count")

    async def requeue_dead_items(self) -> int:
        """Move every dead letter back to the end of its shard."""
        return await self._sum("requeue_dead_items")

    async def purge_dead_items(self) -> int:
        """Delete every dead letter of every shard."""
        return await self._sum("purge_dead_items")


def _call(method: str, *args: Any) -> Callable[[Queue], Awaitable[Any]]:  # noqa: ANN401
    """A job calling ``shard.<method>(*args)``."""
    return lambda shard: getattr(shard, method)(*args)


def _encode(item: Item) -> bytes:
    """The bytes Redis stores for an item, as redis-py encodes it."""
    if isinstance(item, bytes):
        return item
    return (repr(item) if isinstance(item, float) else str(item)).encode()


def _split(count: int, parts: int) -> list[int]:
    """Split count into parts that differ by at most one, the larger first."""
    share, extra = divmod(count, parts)
    return [share + (i < extra) for i in range(parts)]
