"""Queue: a reliable FIFO list, each consumer holding its items in a processing list."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, ClassVar

from aiopyrq import _scripts
from aiopyrq._base import (
    CHUNK_ITEMS,
    Structure,
    check_int,
    check_item,
    check_items,
    check_wait,
    chunked,
)
from aiopyrq._dead import LEASE_EXPIRED, bounded, dead_letter
from aiopyrq._delay import check_delay, delay_ms
from aiopyrq._keys import new_consumer_id
from aiopyrq._limits import CAP_REACHED, WITHIN_LIMITS, check_rate_limit, limit_args
from aiopyrq._tasks import Interruptible, Listen
from aiopyrq._turns import turns_of
from aiopyrq._types import register

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from redis.asyncio import ConnectionPool, Redis
    from redis.asyncio.cluster import RedisCluster
    from redis.typing import EncodableT

    from aiopyrq._delay import Delay
    from aiopyrq._durability import Durability
    from aiopyrq._limits import RateLimit
    from aiopyrq._types import Item, Kind

PROCESSING_TIMEOUT = 7200  # seconds
"""Default age of a consumer's last get beyond which its items count as abandoned."""

_ALL = -1  # lease age that selects every processing list

LISTEN_AFTER = 0.05
"""Seconds a waiting get blocks before it listens for items that other clients delay (it
subscribes to a channel, on a connection of its own while it waits): a shorter wait costs
nothing more. An item delayed before it listens is found then (``queue_next_due``)."""

SOONER_MS = 10
"""How much sooner than the item a waiting get knows of another must be due to end the
wait: the due times are whole milliseconds, read at different moments."""

SLEEP_BEFORE_DUE = 0.15
"""Seconds before a delayed item is due within which a waiting get sleeps in the process
instead of blocking in Redis: Redis ends a blocking command's timeout on its clock tick
(``hz``, 10 a second by default), up to 100 ms late, so the last stretch is slept here."""


class Queue(Structure):
    """A FIFO queue of items, safe against consumers that die.

    ``get_items`` moves items into this object's own processing list; each must then be
    acknowledged (``ack_items``) or rejected (``reject_items``). The items of a consumer
    that died stay in its processing list until ``re_enqueue_timeout_items`` (or
    ``re_enqueue_all_items``) puts them back in the queue.

    Each object is one consumer with an id of its own (``consumer_id``); share one object
    between tasks that should share a processing list, make one per independent consumer.

    Args:
        name: The name of the queue, the prefix of its keys.
        redis: A ``redis.asyncio.Redis`` client, or a ``ConnectionPool`` to make one.
        durability: What each write waits for (``aiopyrq.Durability``), in place of the
            five options that follow (giving both is a TypeError).
        synced_slaves_enabled: After each write, wait for replicas to acknowledge it.
        synced_slaves_count: How many replicas must acknowledge a write (default 0).
        synced_slaves_timeout: How long to wait for them (and for fsyncs), in milliseconds
            (default 100).
        fsync_local: After each write, wait until the master's append-only file has it.
        fsync_replicas: After each write, wait until this many replicas' files have it.
        max_retry: ``can_rollback_item``: rollbacks allowed before an item is refused.
        max_timeout: ``can_rollback_item``: minutes since the first counted rollback
            before an item is refused.
        max_retry_rollback: The original library's name of ``max_retry``.
        max_timeout_in_queue: The original library's name of ``max_timeout``.
        max_deliveries: Dead letters: an item rejected or recovered this many times goes
            to the dead-letter list ``NAME-dead`` instead of back to the queue. ``None``
            (the default) keeps every item in the queue, as the original library did.
        max_in_flight: At most this many items held by all the consumers of the queue at
            once (taken, not yet acknowledged, rejected or recovered), counted in Redis
            (``NAME-in-flight``); a get takes what room is left. ``None``: no cap.
        rate_limit: ``(count, seconds)``: at most count items handed out by all the
            consumers' gets in any span of that many seconds, by the server's clock (a
            sliding window in ``NAME-rate``). ``None``: no limit. Both limits hold only
            for consumers made with them: give every consumer of a limited queue the
            same (see docs/concepts/limits.md).

    Raises:
        TypeError: An argument has the wrong type, or an option is given twice.
        ValueError: An argument is out of range.
    """

    kind: ClassVar[Kind] = "queue"
    leases: ClassVar[bool] = True
    shard_names: ClassVar[tuple[str, ...]] = ()

    _add: ClassVar[_scripts.Script] = _scripts.load("queue_add-2")
    _prioritize: ClassVar[_scripts.Script] = _scripts.load("queue_prioritize-4")
    # Without limits, the get, ack and reject go without the limits' keys (_scripts.load).
    _get: ClassVar[_scripts.Script] = _scripts.load("queue_get-10", keys=7)
    _get_limited: ClassVar[_scripts.Script] = _scripts.load("queue_get-10")
    _reject: ClassVar[_scripts.Script] = _scripts.load("queue_reject-12", keys=10)
    _reject_capped: ClassVar[_scripts.Script] = _scripts.load("queue_reject-12")
    _delay: ClassVar[_scripts.Script] = _scripts.load("queue_delay-2")
    _next_due: ClassVar[_scripts.Script] = _scripts.load("queue_next_due-2")
    _count_script: ClassVar[_scripts.Script] = _scripts.load("queue_counts-3")
    _recover_list: ClassVar[_scripts.Script] = _scripts.load("queue_recover-11")
    _requeue_dead: ClassVar[_scripts.Script] = _scripts.load("queue_requeue-4")
    _heartbeat: ClassVar[_scripts.Script] = _scripts.load("queue_heartbeat-2")
    _purge: ClassVar[_scripts.Script] = _scripts.load("queue_purge-2")
    _ack: ClassVar[_scripts.Script] = _scripts.load("queue_ack-7", keys=5)
    _ack_capped: ClassVar[_scripts.Script] = _scripts.load("queue_ack-7")
    _drop: ClassVar[_scripts.Script] = _scripts.load("queue_drop-5")
    _delete: ClassVar[_scripts.Script] = _scripts.load("queue_delete-1")
    _rollback: ClassVar[_scripts.Script] = _scripts.load("queue_rollback-2")
    _reset: ClassVar[_scripts.Script] = _scripts.load("queue_reset-2")

    def __init__(  # noqa: PLR0913 - the original library's options
        self,
        name: str,
        redis: Redis | RedisCluster | ConnectionPool,
        *,
        durability: Durability | None = None,
        synced_slaves_enabled: bool | None = None,
        synced_slaves_count: int | None = None,
        synced_slaves_timeout: int | None = None,
        fsync_local: bool | None = None,
        fsync_replicas: int | None = None,
        max_retry: int | None = None,
        max_timeout: int | None = None,
        max_retry_rollback: int | None = None,
        max_timeout_in_queue: int | None = None,
        max_deliveries: int | None = None,
        max_in_flight: int | None = None,
        rate_limit: RateLimit | None = None,
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
        self.max_retry = _option("max_retry", max_retry, "max_retry_rollback", max_retry_rollback)
        self.max_timeout = _option(
            "max_timeout", max_timeout, "max_timeout_in_queue", max_timeout_in_queue
        )
        self.max_deliveries = (
            None
            if max_deliveries is None
            else check_int(max_deliveries, "max_deliveries", minimum=1)
        )
        self.max_in_flight = (
            None if max_in_flight is None else check_int(max_in_flight, "max_in_flight", minimum=1)
        )
        self.rate_limit = check_rate_limit(rate_limit)
        self._limit_args = limit_args(self.max_in_flight, self.rate_limit)
        self._cap_args: list[EncodableT] = [] if max_in_flight is None else [max_in_flight]
        self.client_id = new_consumer_id()
        self.processing_queue_name = self.keys.processing(self.client_id)
        self._blocked = Interruptible()  # this object's gets blocked in Redis

    @property
    def timeouts_hash_name(self) -> str:
        """The hash: processing list -> unix time of its consumer's last get."""
        return self.keys.timeouts

    @property
    def retry_count_name(self) -> str:
        """The hash: item -> rollbacks counted by ``can_rollback_item``."""
        return self.keys.retry_count

    @property
    def retry_timeout_name(self) -> str:
        """The hash: item -> unix minute of its first counted rollback."""
        return self.keys.retry_timeout

    def _queue_keys(self) -> list[str]:
        """The keys that open the get, reject and re-enqueue scripts."""
        return [self.keys.queue]

    def _delay_keys(self) -> list[str]:
        """The keys of the script that delays items."""
        return [self.keys.delayed, self.keys.history]

    def _prioritize_keys(self) -> list[str]:
        """The keys of the script that adds items with a priority."""
        return [*self._level_keys(), self.keys.delayed, self.keys.history]

    async def _counts(self) -> tuple[int, int]:
        """The items available now (delayed ones due included), and those delayed."""
        keys = [self.keys.queue, self.keys.delayed, self.keys.priority]
        now, later = await self._script(self._count_script, keys, [], write=False)
        return int(now), int(later)

    async def get_count(self) -> int:
        """Return the number of items waiting in the queue, available now.

        Prioritised items count, and delayed items once they are due (a get moves them
        into the list, or to their level, then).
        """
        return (await self._counts())[0]

    async def get_delayed_count(self) -> int:
        """Return the number of delayed items not yet due."""
        return (await self._counts())[1]

    async def add_item(
        self, item: Item, delay: float | None = None, *, priority: int | None = None
    ) -> None:
        """Add one item at the end of the queue (``delay``, ``priority``: see ``add_items``).

        Raises:
            TypeError: The item is not str, bytes, int or float, delay not a number, or
                priority not an int.
            ValueError: delay is negative, infinite or NaN, or priority out of range.
        """
        await self.add_items([item], delay, priority=priority)

    async def add_items(
        self, items: Iterable[Item], delay: float | None = None, *, priority: int | None = None
    ) -> None:
        """Add items at the end of the queue, in their order, in one script call.

        Args:
            items: The items.
            delay: Seconds, by the server's clock, before the items become available: they
                wait in ``NAME-delayed`` meanwhile and go to the end of the queue when due
                (``get_delayed_count`` counts them). ``None`` or 0: available at once.
            priority: From -9 to 9: the items come out before those of lower priority,
                first in first out within one, and keep it when rejected or recovered
                (they wait in ``NAME-priority``, their level kept in ``NAME-priorities``;
                equal items of a Queue share one). ``None`` or 0: the default, the list
                ``NAME`` as the original library has it (see docs/concepts/priorities.md).

        Raises:
            TypeError: An item is not str, bytes, int or float, delay not a number, or
                priority not an int.
            ValueError: delay is negative, infinite or NaN, or priority out of range.
        """
        later = 0 if delay is None else delay_ms(check_delay(delay))
        level = check_priority(priority)
        for chunk in chunked(self._new_items(items)):
            if chunk and level:
                args: list[EncodableT] = [level, later, self._pack(chunk)]
                await self._script(
                    self._prioritize, self._prioritize_keys(), args, items=len(chunk)
                )
            elif chunk and later:
                args = [later, self._pack(chunk)]
                await self._script(self._delay, self._delay_keys(), args, items=len(chunk))
            elif chunk:
                await self._add_now(chunk)

    async def _add_now(self, chunk: list[Item]) -> None:
        """Add a chunk of checked items at the end of the queue."""
        keys = [self.keys.queue, self.keys.history]
        await self._script(self._add, keys, [self._pack(chunk)], items=len(chunk))

    async def get_items(self, count: int, wait: float | None = None) -> list[Any]:
        """Take up to ``count`` items, oldest first, into this consumer's processing list.

        Args:
            count: The most items to take.
            wait: If the queue is empty, block up to this many seconds for an item, and
                return as soon as one comes (with whatever else is waiting then, up to
                count). The wait is one blocking Redis command, not a polling loop, that
                moves nothing: a task cancelled while waiting loses nothing, and the
                items are taken by the same script as without a wait. With delayed
                items, the wait ends when the next one is due (the get's script tells
                when), so the get returns it within milliseconds of its due time. An item
                that any client delays while the get waits, due sooner, ends the wait
                too: after ``LISTEN_AFTER`` (50 ms) the get listens on a channel (on a
                connection of its own while it waits) where the script that delays an
                item says when it is due. A user who may not subscribe to that channel
                (ACL) is not told: the get finds such an item when the wait's command
                ends (at most the client's socket timeout). The sync twin listens in a
                thread, and ends the command with CLIENT UNBLOCK (a user who may not run
                CLIENT is not told either).
                With limits, a get that finds no room waits for it, within wait: for
                the rate limit, it sleeps until the script says the next item may go
                (the oldest get of the window leaves it); at the in-flight cap, it
                blocks in Redis on ``NAME-in-flight-freed``, where each ack, reject or
                recovery of a capped consumer puts a token per item it frees.

        With ``max_in_flight`` or ``rate_limit``, a get takes only what the limits leave
        room for, over every consumer: it may return fewer items than count, or none
        without wait though items are waiting.

        Returns:
            The items (``str``, or ``bytes`` from a client that does not decode); an empty
            list if none came.

        Raises:
            TypeError: count is not an int.
            ValueError: count or wait is negative.
        """
        if check_int(count, "count") == 0:
            return []
        blocking = wait is not None and check_wait(wait) > 0
        since = self._blocked.mark()  # a reject with a delay after it: take again, not wait
        items, due, limit = await self._take(count, renew=blocking)
        if items or not blocking:
            return items
        deadline = time.monotonic() + float(wait or 0)
        turns = turns_of(self.redis, self.keys.queue)
        fresh = True  # the queue was found empty just now, and due is up to date
        while (left := deadline - time.monotonic()) > 0:
            if not turns.enter():  # another task of this client blocks on the queue: wait
                await turns.wait(left)
                fresh = False
                continue
            try:
                if not fresh:
                    since = self._blocked.mark()
                    items, due, limit = await self._take(count, renew=True)
                    if items:
                        return items
                fresh = await self._block(left, due, limit, since)
                if fresh:  # take now; then, found empty or taken by another consumer, wait on
                    since = self._blocked.mark()
                    items, due, limit = await self._take(count, renew=True)
                    if items:
                        return items
                # Else the wait's command timed out (at most the socket timeout), the get's
                # wait may not: the next turn takes again, to learn when items are due.
            finally:
                turns.leave()
        return []

    async def _block(self, left: float, due: int, limit: int, since: int) -> bool:
        """Wait until an item comes or the next delayed one is due, at most left seconds.

        Args:
            left: Seconds left to wait.
            due: Milliseconds until the next delayed item is due; -1: none is delayed.
            limit: ``WITHIN_LIMITS``, or what to wait for (see ``_wait_for_room``).
            since: The wait's mark, taken before the take that told ``due``.

        Returns:
            Whether to take now: an item came, or a delayed one is due (or nearly).
        """
        if limit != WITHIN_LIMITS:
            return await self._wait_for_room(left, limit, since)
        due_in = due / 1000
        if 0 <= due_in <= SLEEP_BEFORE_DUE:
            await asyncio.sleep(min(left, due_in + 0.001))
            return True
        until_due = due_in >= 0 and due_in - SLEEP_BEFORE_DUE < left
        if until_due:
            left = due_in - SLEEP_BEFORE_DUE
        # Block until the queue has an item, moving nothing (the last item goes back
        # where it was), so that a retried command takes nothing twice, and a command
        # cancelled when this object delays items of its own (a reject) loses nothing.
        # After LISTEN_AFTER, listen for items that other clients delay, due sooner.
        begun = time.monotonic()
        listen = Listen(
            self.redis, self.keys.delayed, lambda: self._sooner(due, begun), LISTEN_AFTER
        )
        ended, woke = await self._blocked.run(
            lambda: self._read(
                "BLMOVE",
                self.keys.queue,
                self.keys.queue,
                "RIGHT",
                "RIGHT",
                self._block_for(left),
                raw=True,  # the item that woke us, as bytes: it may not decode
            ),
            since,
            listen,
        )
        # Ended: take again; its script tells when the items delayed meanwhile are due.
        return ended or woke is not None or until_due

    async def _sooner(self, due: int, since: float) -> bool:
        """Whether an item is delayed now that is due before ``due`` ms after ``since``.

        Args:
            due: What the take said before the wait began at ``since`` (monotonic): ms
                until the next delayed item is due, -1 if none was.
            since: When the wait began.
        """
        keys = [self.keys.delayed, self.keys.priority]
        due_now = int(await self._script(self._next_due, keys, [], write=False))
        left = due - (time.monotonic() - since) * 1000
        return due_now >= 0 and (due < 0 or due_now < left - SOONER_MS)

    async def _wait_for_room(self, left: float, limit: int, since: int) -> bool:
        """Wait, at most left seconds, until the limits may let an item through.

        Args:
            left: Seconds left to wait.
            limit: ``CAP_REACHED``: block until an ack, reject or recovery frees room (a
                token in ``NAME-in-flight-freed``); else milliseconds to sleep until the
                rate limit lets the next item through.
            since: The wait's mark: a reject with a delay by this object ends the wait.

        Returns:
            True: take again.
        """
        if limit == CAP_REACHED:
            freed = self.keys.in_flight_freed
            await self._blocked.run(
                lambda: self._read("BLPOP", freed, self._block_for(left)), since
            )
        else:
            await asyncio.sleep(min(left, limit / 1000))
        return True

    async def _take(self, count: int, *, renew: bool) -> tuple[list[Any], int, int]:
        """Take up to count items, in calls of at most CHUNK_ITEMS.

        Returns:
            The items; when there were none, the milliseconds until the next delayed item
            is due (-1: none is delayed); and WITHIN_LIMITS, or what the limits say to wait for
            (``_wait_for_room``).
        """
        keys = [*self._queue_keys(), self.processing_queue_name, self.keys.timeouts]
        keys += [self.keys.delayed, *self._level_keys(), self.keys.history]
        get = self._get
        if self._limit_args:
            get, keys = self._get_limited, keys + self.keys.limits
        args: list[EncodableT] = [0, int(renew), *self._limit_args]
        taken: list[Any] = []
        while True:
            args[0] = want = min(count - len(taken), CHUNK_ITEMS)
            reply = await self._script(get, keys, args, write=False, items=want, raw=True)
            items = self._items(reply[0])
            limit = int(reply[2]) if len(reply) > 2 else WITHIN_LIMITS  # noqa: PLR2004 - the limits' part
            if count <= CHUNK_ITEMS:
                return items, int(reply[1]), limit
            taken += items
            if len(items) < want or len(taken) == count:
                return taken, int(reply[1]) if not taken else 0, limit

    async def heartbeat(self) -> None:
        """Renew this consumer's lease: recovery leaves its items alone while it is alive.

        A long batch stays this consumer's as long as it calls this more often than the
        lease timeout recovery uses (``get_items`` renews the lease too).
        """
        await self._script(
            self._heartbeat, [self.processing_queue_name, self.keys.timeouts], [], write=False
        )

    async def ack_item(self, item: Item) -> None:
        """Acknowledge one item: it is done and leaves the processing list."""
        await self.ack_items([item])

    async def ack_items(self, items: Iterable[Item]) -> None:
        """Acknowledge a batch of items in one script call."""
        checked = check_items(items)
        if checked:
            keys = [self.processing_queue_name, self.keys.timeouts, self.keys.deliveries]
            keys += [self.keys.priorities, self.keys.history]
            ack = self._ack
            if self._cap_args:
                ack, keys = self._ack_capped, keys + self._held_keys()
            args = [self._pack(checked), *self._cap_args]
            await self._script(ack, keys, args, items=len(checked))

    async def reject_item(
        self, item: Item, delay: Delay | None = None, *, reason: str | None = None
    ) -> int:
        """Reject one item: back to the front of the queue (or to the dead letters).

        ``delay``, ``reason``: see ``reject_items``.
        """
        return await self.reject_items([item], delay, reason=reason)

    async def reject_items(
        self, items: Iterable[Item], delay: Delay | None = None, *, reason: str | None = None
    ) -> int:
        """Reject a batch: the items go back to the front of the queue, the first taken next.

        Only items this consumer holds go back, so rejecting twice queues nothing twice.
        With ``max_deliveries``, an item rejected or recovered that many times goes to the
        dead-letter list instead.

        Args:
            items: The items, held by this consumer.
            delay: Seconds, by the server's clock, before the items are available again:
                they wait with the delayed items meanwhile, then go to the end of the
                queue. Or a function of an item's failed deliveries (this one included,
                so 1 at the first reject) that returns its delay. A reject with a delay
                counts the failed delivery even without ``max_deliveries``, and an
                acknowledgement forgets it. ``None`` or 0: back at once.
            reason: Why the items failed, kept with those that go to the dead letters
                (``get_dead_items(details=True)``), cut to 1,000 characters; ``None`` or
                empty: none.

        Returns:
            How many of the items went to the dead-letter list (0 without max_deliveries).

        Raises:
            TypeError: delay (or what the function returns) is not a number, or reason
                not a str.
            ValueError: delay is negative, infinite or NaN.
        """
        why = "" if reason is None else bounded(reason)
        checked = check_items(items)
        if not checked:
            return 0
        if callable(delay):
            groups = await self._delays_of(checked, delay)
        else:
            groups = {0 if delay is None else delay_ms(check_delay(delay)): checked}
        counted = int(delay is not None and (callable(delay) or next(iter(groups)) > 0))
        keys = [
            *self._return_keys(self.processing_queue_name),
            self.keys.delayed,
            self.keys.dead_records,
            *self._level_keys(),
            self.keys.history,
        ]
        reject = self._reject
        if self._cap_args:
            reject, keys = self._reject_capped, keys + self._held_keys()
        most = self.max_deliveries or 0
        tail: list[EncodableT] = [counted, why, self.client_id, *self._cap_args]
        if len(groups) == 1:  # one script call, as a reject without delay always is
            args: list[EncodableT] = [most, self._pack(checked), next(iter(groups)), *tail]
            dead = int(await self._script(reject, keys, args, items=len(checked)))
        else:
            calls = [
                self._call(reject, keys, [most, self._pack(part), later, *tail])
                for later, part in groups.items()
            ]
            dead = sum(int(dead) for dead in await self._write(calls))
        if any(groups):  # delayed: this object's waiting gets learn when they are due
            self._blocked.end()
        return dead

    async def _delays_of(
        self, items: Sequence[Item], delay: Callable[[int], float]
    ) -> dict[int, list[Item]]:
        """Group items by the delay the function gives for their failed deliveries."""
        counts = await self._read("HMGET", self.keys.deliveries, *items)
        groups: dict[int, list[Item]] = {}
        for item, count in zip(items, counts, strict=True):
            later = delay_ms(check_delay(delay(int(count or 0) + 1)))
            groups.setdefault(later, []).append(item)
        return groups

    async def delete_item(self, item: Item, count: int = 0) -> None:
        """Delete an item from the queue, as LREM: every occurrence when ``count`` is 0."""
        await self.delete_items([item], count)

    async def delete_items(self, items: Iterable[Item], count: int = 0) -> None:
        """Delete items waiting in the queue in one script call (not those delayed).

        Args:
            items: The items.
            count: Occurrences to delete per item, as LREM's count: 0 every one, > 0 the
                most recently added first, < 0 the oldest first.
        """
        checked = check_items(items)
        check_count(count)
        if checked:
            args: list[EncodableT] = [count, self._pack(checked)]
            await self._script(self._delete, [self.keys.queue], args, items=len(checked))

    async def re_enqueue_timeout_items(self, timeout: int = PROCESSING_TIMEOUT) -> int:
        """Put back in the queue the items of consumers whose lease is older than timeout.

        A consumer's lease is the time of its last get or heartbeat.

        Args:
            timeout: Seconds since a consumer's last get or heartbeat.

        Returns:
            How many items the recovered consumers held.
        """
        return await self._recover(check_int(timeout, "timeout"), drop=False)

    async def re_enqueue_all_items(self) -> int:
        """Put back in the queue the items of every consumer, live ones included.

        Returns:
            How many items the consumers held.
        """
        return await self._recover(_ALL, drop=False)

    async def drop_timeout_items(self, timeout: int = PROCESSING_TIMEOUT) -> int:
        """Delete the items of consumers whose lease is older than timeout.

        Returns:
            How many items were deleted.
        """
        return await self._recover(check_int(timeout, "timeout"), drop=True)

    async def drop_all_items(self) -> int:
        """Delete the items of every consumer, live ones included.

        Returns:
            How many items were deleted.
        """
        return await self._recover(_ALL, drop=True)

    async def recover(self, lease_timeout: int = 30, interval: float = 5.0) -> int:
        """Recover the items of dead consumers, unless another consumer did within interval.

        What a reaper runs periodically: a lock in Redis (``NAME-recovery-lock``, expiring
        after ``interval`` seconds) lets one consumer at a time run
        ``re_enqueue_timeout_items(lease_timeout)``.

        Returns:
            How many items the recovered consumers held; 0 if another consumer holds the lock.
        """
        lock_ms = max(1, round(check_wait(interval) * 1000))
        locked = await self._read(
            "SET", self.keys.recovery_lock, self.client_id, "NX", "PX", lock_ms
        )
        return await self.re_enqueue_timeout_items(lease_timeout) if locked else 0

    async def _recover(self, max_age: int, *, drop: bool) -> int:
        """Recover or drop every processing list of the timeouts hash, newest lease first.

        Each list is recovered atomically, all in one round trip; the oldest items end up
        at the front of the queue.
        """
        leases: dict[Any, Any] = await self._read_hash(self.keys.timeouts)
        by_age = sorted(leases, key=lambda name: float(leases[name]), reverse=True)
        calls = [self._recovery(name, max_age, drop=drop) for name in by_age]
        recovered = sum(await self._write(calls)) if calls else 0
        if max_age == _ALL:
            self._forget_failed()  # this consumer's items too: a failed get's among them
        return recovered

    def _recovery(self, processing: str, max_age: int, *, drop: bool) -> _scripts.Call:
        cap = self.max_in_flight or 0
        if drop:
            keys = [processing, self.keys.timeouts, self.keys.priorities, *self._held_keys()]
            return self._call(self._drop, keys, [max_age, cap])
        return self._requeue_call(processing, max_age, self.max_deliveries or 0)

    def _requeue_call(self, processing: str, max_age: int, max_deliveries: int) -> _scripts.Call:
        keys = [
            *self._recover_keys(processing),
            self.keys.dead_records,
            *self._level_keys(),
            self.keys.history,
            *self._held_keys(),
        ]
        reason = LEASE_EXPIRED if max_age != _ALL else "recovered by re_enqueue_all_items"
        consumer = processing.removeprefix(self.keys.processing(""))
        cap = self.max_in_flight or 0
        args: list[EncodableT] = [max_age, max_deliveries, reason, consumer, cap]
        return self._call(self._recover_list, keys, args)

    def _level_keys(self) -> list[str]:
        """The keys of the priorities, before the history in the scripts that put items back."""
        return [self.keys.priority, self.keys.priorities]

    def _held_keys(self) -> list[str]:
        """The keys of the in-flight cap, last in the scripts that free held items."""
        return [self.keys.in_flight, self.keys.in_flight_freed]

    def _recover_keys(self, processing: str) -> list[str]:
        """The keys of the script that recovers a processing list."""
        return self._return_keys(processing)

    def _return_keys(self, processing: str) -> list[str]:
        """The keys of the scripts that return a processing list's items (reject, requeue)."""
        keys = [self.keys.timeouts, self.keys.deliveries, self.keys.dead]
        return [*self._queue_keys(), processing, *keys]

    async def release(self) -> int:
        """Put every item this consumer holds back at the front of the queue; drop its lease.

        For a consumer that stops: the items go back uncounted (no delivery failure).

        Returns:
            How many items went back.
        """
        released = await self._write([self._requeue_call(self.processing_queue_name, _ALL, 0)])
        self._forget_failed()  # what failed gets may have taken went back too
        return int(released[0])

    async def get_dead_count(self) -> int:
        """Return the number of dead letters."""
        return int(await self._read("LLEN", self.keys.dead))

    async def get_dead_items(self, count: int = 100, *, details: bool = False) -> list[Any]:
        """Return up to count dead letters, the oldest first, leaving them where they are.

        Args:
            count: How many at most.
            details: Return ``DeadLetter`` records (item, reason, died_at, deliveries,
                consumer) in place of the bare items. Every copy of an item that died more
                than once has the record of its last death; a dead letter written before
                records were kept has None in every field but the item.
        """
        if check_int(count, "count") == 0:
            return []
        raw = await self._read("LRANGE", self.keys.dead, 0, count - 1, raw=True)
        items = self._items(raw)
        if not details or not raw:
            return items
        records = await self._read("HMGET", self.keys.dead_records, *raw, raw=True)
        encoding = self._encoding[0]
        return [dead_letter(*pair, encoding) for pair in zip(items, records, strict=True)]

    async def requeue_dead_items(self, items: Iterable[Item] | None = None) -> int:
        """Move dead letters back to the end of the queue, delivery counts and records forgotten.

        Args:
            items: The dead letters to move; ``None``: all of them.

        Returns:
            How many items were queued.
        """
        checked = [] if items is None else check_items(items)
        if items is not None and not checked:
            return 0
        keys = [*self._queue_keys(), self.keys.dead, self.keys.deliveries, self.keys.dead_records]
        return int(await self._script(self._requeue_dead, keys, [self._pack(checked)]))

    async def purge_dead_items(self) -> int:
        """Delete every dead letter, and the records of why they died.

        Returns:
            How many were deleted.
        """
        keys = [self.keys.dead, self.keys.dead_records]
        return int(await self._script(self._purge, keys, []))

    async def _read_hash(self, key: str) -> dict[Any, Any]:
        flat = await self._read("HGETALL", key)
        if isinstance(flat, dict):  # a RESP3 connection
            return flat
        return dict(zip(flat[::2], flat[1::2], strict=True))

    async def can_rollback_item(self, item: Item) -> bool:
        """Count a rollback of item and tell whether it may still be rolled back.

        An item is refused once it has been counted more than ``max_retry`` times and its
        first counted rollback is more than ``max_timeout`` minutes old.

        Raises:
            ValueError: The queue was made without max_retry or max_timeout.
        """
        if self.max_retry is None or self.max_timeout is None:
            msg = "can_rollback_item needs the options max_retry and max_timeout"
            raise ValueError(msg)
        keys = [self.keys.retry_count, self.keys.retry_timeout]
        count, first, now = await self._script(
            self._rollback, keys, [check_item(item)], write=False
        )
        return not (count > self.max_retry and now - first > self.max_timeout)

    async def reset_blocked_item(self, item: Item) -> None:
        """Forget the rollbacks counted for item."""
        keys = [self.keys.retry_count, self.keys.retry_timeout]
        await self._script(self._reset, keys, [check_item(item)], write=False)


register("queue", Queue)


PRIORITIES = range(-9, 10)
"""The priorities an item may have: 0 is the default, the queue list ``NAME``."""


def check_priority(priority: object) -> int:
    """Return the level of a ``priority`` argument: 0 for None, refusing what is not in range.

    Raises:
        TypeError: The priority is not an int (nor None).
        ValueError: It is not in ``PRIORITIES``.
    """
    if priority is None:
        return 0
    level = check_int(priority, "priority", minimum=PRIORITIES[0])
    if level not in PRIORITIES:
        msg = f"priority must be from {PRIORITIES[0]} to {PRIORITIES[-1]}, got {level}"
        raise ValueError(msg)
    return level


def check_count(count: object) -> None:
    """Refuse a count of ``delete_items`` that is not an int (any sign is fine)."""
    if isinstance(count, bool) or not isinstance(count, int):
        msg = f"count must be an int, not {type(count).__name__}"
        raise TypeError(msg)


def _option(name: str, value: int | None, alias: str, alias_value: int | None) -> int | None:
    """Return an option given by its name or by the original library's alias."""
    if value is not None and alias_value is not None:
        msg = f"give {name} or its alias {alias}, not both"
        raise TypeError(msg)
    chosen = value if value is not None else alias_value
    return None if chosen is None else check_int(chosen, name)
