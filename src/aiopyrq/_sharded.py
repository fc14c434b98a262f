"""ShardedQueue: one logical queue spread over several Queues, for more than one Redis core."""

from __future__ import annotations

import functools
import itertools
import zlib
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any, TypeVar

from aiopyrq import _tasks
from aiopyrq._base import check_int, check_items, check_name, check_wait
from aiopyrq._dead import bounded
from aiopyrq._delay import check_delay
from aiopyrq._history import HistoryMinute, check_minutes, summed
from aiopyrq._keys import shard_name
from aiopyrq._queue import PROCESSING_TIMEOUT, Queue, check_count, check_priority
from aiopyrq._unique_queue import UniqueQueue

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping

    from redis.asyncio import ConnectionPool, Redis
    from redis.asyncio.cluster import RedisCluster

    from aiopyrq._delay import Delay
    from aiopyrq._limits import RateLimit
    from aiopyrq._types import Item, Kind

_UNFINISHED = 64  # unfinished adds remembered, at most
_Arg = TypeVar("_Arg")
_Result = TypeVar("_Result")


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
        **options: The options of Queue (``max_deliveries``, ``durability`` ...).
            ``max_in_flight`` and ``rate_limit`` hold per shard: each shard is a queue of
            its own, in a hash slot of its own, so over the sharded queue at most
            ``shards`` times as many (a script sees one slot only; see
            docs/concepts/limits.md).
    """

    leases = True

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
        self.shards: list[Queue] = [
            kind(shard_name(name, i), redis, **options) for i in range(count)
        ]
        self.unique = unique
        self._next = itertools.cycle(range(count))
        self._held: defaultdict[bytes, deque[int]] = defaultdict(deque)  # by stored bytes
        self._early: list[tuple[int, Any]] = []  # items a blocking get moved after another won
        self._blocked: dict[int, _tasks.Task[Any]] = {}
        # Calls that failed on some shards, to finish when made again (see _each).
        self._unfinished_adds: dict[tuple[object, ...], tuple[int, frozenset[int]]] = {}
        self._unfinished_gets: dict[int, int] = {}  # shard -> count its failed get asked
        self._guard = _tasks.guard()  # around the bookkeeping above, between awaits

    @property
    def kind(self) -> Kind:
        """How its shards keep their items: ``"unique"`` or ``"queue"``."""
        return "unique" if self.unique else "queue"

    @property
    def max_in_flight(self) -> int | None:
        """The cap on the items held from each shard (``None``: none)."""
        return self.shards[0].max_in_flight

    @property
    def rate_limit(self) -> RateLimit | None:
        """The rate limit of each shard, ``(count, seconds)`` (``None``: none)."""
        return self.shards[0].rate_limit

    @property
    def shard_names(self) -> tuple[str, ...]:
        """The names of its shards, ``NAME:0`` ... ``NAME:<n-1>``."""
        return tuple(shard.name for shard in self.shards)

    def _shard_of(self, item: Item, start: int, position: int) -> int:
        if self.unique:  # the same item always lands on the same shard, from any process
            return zlib.crc32(_encode(item)) % len(self.shards)
        return (start + position) % len(self.shards)

    async def _each(
        self, job: Callable[[Queue, _Arg], Awaitable[_Result]], args: Mapping[int, _Arg]
    ) -> tuple[dict[int, _Result], dict[int, BaseException]]:
        """Run ``job(shard, args[i])`` on each shard i of args, all at once, each to its end.

        Returns:
            The results of the shards whose job succeeded, and the errors of the others: the
            caller keeps what the first did, so that the same call made again finishes the
            job instead of doing it twice.
        """
        shards = list(args)
        outcomes = await _tasks.settled(
            functools.partial(job, self.shards[i], args[i]) for i in shards
        )
        done: dict[int, _Result] = {}
        failed: dict[int, BaseException] = {}
        for i, outcome in zip(shards, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                failed[i] = outcome
            else:
                done[i] = outcome
        return done, failed

    async def _all(self, job: Callable[[Queue], Awaitable[_Result]]) -> list[_Result]:
        """Run ``job(shard)`` on every shard at once; the results in the shards' order."""
        return await _tasks.gathered(functools.partial(job, shard) for shard in self.shards)

    async def _sum(self, job: Callable[[Queue], Awaitable[int]]) -> int:
        """Run ``job(shard)`` on every shard at once; add up the results."""
        return sum(await self._all(job))

    async def get_count(self) -> int:
        """Return the number of items waiting in all shards."""
        return await self._sum(lambda shard: shard.get_count())

    async def get_history(self, minutes: int = 60) -> list[HistoryMinute]:
        """Return the history of the last ``minutes`` minutes, its shards' added up.

        As Queue's ``get_history``, each minute the sum of the shards' (waiting: of those
        whose waiting is known, None if none is); it ends with the current minute of the
        shard whose server's clock is the latest.

        Raises:
            TypeError: minutes is not an int.
            ValueError: minutes is not from 1 to 1,440.
        """
        check = check_minutes(minutes)
        histories = await self._all(lambda shard: shard.get_history(check))
        return summed(histories, check)

    async def get_delayed_count(self) -> int:
        """Return the number of delayed items not yet due, in all shards."""
        return await self._sum(lambda shard: shard.get_delayed_count())

    async def add_item(
        self, item: Item, delay: float | None = None, *, priority: int | None = None
    ) -> None:
        """Add one item to a shard (``delay``, ``priority``: as for Queue)."""
        await self.add_items([item], delay, priority=priority)

    async def add_items(
        self, items: Iterable[Item], delay: float | None = None, *, priority: int | None = None
    ) -> None:
        """Spread items over the shards: one call per shard, all at once.

        ``delay``, ``priority``: as for Queue; each shard keeps its delayed items, and its
        prioritised ones: a get takes the highest priority of the shard it reads.
        """
        if delay is not None:
            check_delay(delay)
        check_priority(priority)
        checked = self.shards[0]._new_items(items)  # noqa: SLF001 - every shard checks alike
        key = (*checked, delay, priority)
        # The same add made again after a failure: the same shards, those done skipped.
        with self._guard:
            unfinished = self._unfinished_adds.pop(key, None)
        start, done = unfinished or (next(self._next), frozenset())
        parts: defaultdict[int, list[Item]] = defaultdict(list)
        for position, item in enumerate(checked):
            parts[self._shard_of(item, start, position)].append(item)
        todo = {i: part for i, part in parts.items() if i not in done}
        added, failed = await self._each(
            lambda shard, part: shard.add_items(part, delay, priority=priority), todo
        )
        if failed:
            with self._guard:
                self._unfinished_adds[key] = (start, done | set(added))
                while len(self._unfinished_adds) > _UNFINISHED:
                    del self._unfinished_adds[next(iter(self._unfinished_adds))]
            raise next(iter(failed.values()))

    async def get_items(self, count: int, wait: float | None = None) -> list[Any]:
        """Take up to count items from the shards; with wait, block on all of them.

        Returns:
            The items, in each shard's order.
        """
        if check_int(count, "count") == 0:
            return []
        with self._guard:
            self._harvest()
            taken = self._take_early(count)
            shares: dict[int, int] = {}
            if len(taken) < count:
                # After a get that failed on some shards, the next asks them the same again:
                # a shard's get made again returns what its first run took.
                left = count - len(taken)
                shares, self._unfinished_gets = self._unfinished_gets or self._shares(left), {}
        if shares:
            taken = await self._take_shares(count, taken, shares)
        if not taken and wait is not None and check_wait(wait) > 0:
            taken = await self._block(wait)
        with self._guard:
            for shard, item in taken:
                self._held[_encode(item)].append(shard)
        return [item for _, item in taken]

    async def _take_shares(
        self, count: int, taken: list[tuple[int, Any]], shares: dict[int, int]
    ) -> list[tuple[int, Any]]:
        """Ask each shard for its share; what goes beyond count is kept for the next get."""
        got, failed = await self._each(lambda shard, n: shard.get_items(n), shares)
        taken += [(i, item) for i, items in got.items() for item in items]
        with self._guard:
            if failed:  # what the others took is handed out first by the next get
                self._early = taken + self._early
                self._unfinished_gets = {i: shares[i] for i in failed}
            else:
                taken, self._early = taken[:count], taken[count:] + self._early
        if failed:
            raise next(iter(failed.values()))
        return taken

    def _shares(self, count: int) -> dict[int, int]:
        """How many items to ask each shard for, the first shard in turn."""
        start = next(self._next)
        parts = _split(count, len(self.shards))
        return {(start + i) % len(self.shards): n for i, n in enumerate(parts) if n}

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
        with self._guard:
            for i, shard in enumerate(self.shards):
                if i not in self._blocked:
                    self._blocked[i] = _tasks.start(functools.partial(shard.get_items, 1, wait))
            blocked = list(self._blocked.values())
        await _tasks.first_done(blocked, wait)
        with self._guard:
            self._harvest()
            return self._take_early(len(self._early))

    async def ack_item(self, item: Item) -> None:
        """Acknowledge one item."""
        await self.ack_items([item])

    async def ack_items(self, items: Iterable[Item]) -> None:
        """Acknowledge items, each on the shard it came from."""
        parts = self._by_shard(check_items(items))
        _, failed = await self._each(lambda shard, part: shard.ack_items(part), parts)
        self._hold_again(parts, failed)

    async def reject_item(
        self, item: Item, delay: Delay | None = None, *, reason: str | None = None
    ) -> int:
        """Reject one item: back to the front of its shard (or to its dead letters)."""
        return await self.reject_items([item], delay, reason=reason)

    async def reject_items(
        self, items: Iterable[Item], delay: Delay | None = None, *, reason: str | None = None
    ) -> int:
        """Reject items, each back to the front of the shard it came from.

        ``delay``, ``reason``: as for Queue, each item delayed in its shard.

        Returns:
            How many of the items went to the dead-letter lists.
        """
        if delay is not None and not callable(delay):
            check_delay(delay)
        if reason is not None:
            bounded(reason)
        parts = self._by_shard(check_items(items))
        dead, failed = await self._each(
            lambda shard, part: shard.reject_items(part, delay, reason=reason), parts
        )
        self._hold_again(parts, failed)
        return sum(dead.values())

    def _hold_again(
        self, parts: Mapping[int, list[Item]], failed: Mapping[int, BaseException]
    ) -> None:
        """After acks or rejects that failed on some shards, hold their items again and raise.

        The same call made again sends them to the same shards, where the failed calls are
        made again with their call keys: each item acked or rejected once.
        """
        if not failed:
            return
        with self._guard:
            for i in failed:
                for item in parts[i]:
                    self._held[_encode(item)].append(i)
        raise next(iter(failed.values()))

    def _by_shard(self, items: list[Item]) -> dict[int, list[Item]]:
        """Group held items by the shard they came from; forget them as held."""
        parts: defaultdict[int, list[Item]] = defaultdict(list)
        with self._guard:
            for item in items:
                stored = _encode(item)  # 42 acks the "42" a get returned, as on a Queue
                shards = self._held.get(stored)
                if shards:
                    parts[shards.popleft()].append(item)
                    if not shards:
                        del self._held[stored]
        return parts

    async def heartbeat(self) -> None:
        """Renew this consumer's lease on every shard."""
        await self._all(lambda shard: shard.heartbeat())

    async def recover(self, lease_timeout: int = 30, interval: float = 5.0) -> int:
        """Recover dead consumers' items on every shard (see Queue.recover)."""
        return await self._sum(lambda shard: shard.recover(lease_timeout, interval))

    async def re_enqueue_timeout_items(self, timeout: int = PROCESSING_TIMEOUT) -> int:
        """Recover, on every shard, the items of consumers whose lease is older than timeout."""
        return await self._sum(lambda shard: shard.re_enqueue_timeout_items(timeout))

    async def re_enqueue_all_items(self) -> int:
        """Put back in its shard every item of every consumer, live ones included."""
        return await self._sum(lambda shard: shard.re_enqueue_all_items())

    async def drop_timeout_items(self, timeout: int = PROCESSING_TIMEOUT) -> int:
        """Delete, on every shard, the items of consumers whose lease is older than timeout."""
        return await self._sum(lambda shard: shard.drop_timeout_items(timeout))

    async def drop_all_items(self) -> int:
        """Delete the items of every consumer on every shard, live ones included."""
        return await self._sum(lambda shard: shard.drop_all_items())

    async def delete_item(self, item: Item, count: int = 0) -> None:
        """Delete an item from every shard (``count`` per shard, as for Queue)."""
        await self.delete_items([item], count)

    async def delete_items(self, items: Iterable[Item], count: int = 0) -> None:
        """Delete waiting items from every shard, one call per shard, all at once.

        Args:
            items: The items.
            count: Occurrences to delete per item and shard, as LREM's count (see Queue).
        """
        checked = check_items(items)
        check_count(count)
        if checked:
            await self._all(lambda shard: shard.delete_items(checked, count))

    async def release(self) -> int:
        """Stop blocking, and give every item this consumer holds back to its shard."""
        with self._guard:
            blocked = list(self._blocked.values())
        await _tasks.stop(blocked)
        with self._guard:
            self._blocked.clear()
            self._early.clear()
            self._held.clear()
            self._unfinished_gets.clear()  # what they may have taken goes back with the rest
        return await self._sum(lambda shard: shard.release())

    async def get_dead_count(self) -> int:
        """Return the number of dead letters in all shards."""
        return await self._sum(lambda shard: shard.get_dead_count())

    async def get_dead_items(self, count: int = 100, *, details: bool = False) -> list[Any]:
        """Return up to count dead letters, those of shard 0 first, each shard's oldest first.

        ``details``: as for Queue.
        """
        if check_int(count, "count") == 0:
            return []
        found = await self._all(lambda shard: shard.get_dead_items(count, details=details))
        return [item for items in found for item in items][:count]

    async def requeue_dead_items(self, items: Iterable[Item] | None = None) -> int:
        """Move dead letters back to the end of their shard, delivery counts forgotten.

        Args:
            items: The dead letters to move, each from every shard that has it;
                ``None``: all of them.

        Returns:
            How many items were queued.
        """
        checked = None if items is None else check_items(items)
        if checked == []:
            return 0
        return await self._sum(lambda shard: shard.requeue_dead_items(checked))

    async def purge_dead_items(self) -> int:
        """Delete every dead letter of every shard."""
        return await self._sum(lambda shard: shard.purge_dead_items())


def _encode(item: Item) -> bytes:
    """The bytes Redis stores for an item, as redis-py encodes it."""
    if isinstance(item, bytes):
        return item
    return (repr(item) if isinstance(item, float) else str(item)).encode()


def _split(count: int, parts: int) -> list[int]:
    """Split count into parts that differ by at most one, the larger first."""
    share, extra = divmod(count, parts)
    return [share + (i < extra) for i in range(parts)]
