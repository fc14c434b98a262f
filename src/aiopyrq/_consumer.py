"""Consumer: runs an async handler over a queue's items, with leases, recovery and shutdown."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import signal
import time
from typing import TYPE_CHECKING, Any

from aiopyrq._acks import Acks
from aiopyrq._base import check_int, check_wait
from aiopyrq._dead import error_reason
from aiopyrq._delay import check_delay, retry_after
from aiopyrq._failures import FailureLog
from aiopyrq._stats import ConsumerStats
from aiopyrq._types import Consumable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiopyrq._delay import Delay

    SpanFactory = Callable[[str, str], contextlib.AbstractContextManager[object]]

logger = logging.getLogger("aiopyrq")

_RETRY_AFTER = 1.0  # seconds to wait after a failed get, ack or reject before trying again
_NO_SPAN = contextlib.nullcontext()


class Consumer:
    """Runs an async handler over the items of a Queue, UniqueQueue, ShardedQueue or Pool.

    Items are fetched in batches with a blocking get, handled with at most
    ``concurrency`` handlers at a time, acknowledged on success and rejected (counted
    towards dead letters, delivered again after ``retry_delay``) when the handler raises.
    Alongside, a heartbeat keeps this consumer's lease fresh, and a reaper returns the
    items of dead consumers to the queue once their lease is ``lease_timeout`` seconds old
    (one reaper per queue at a time).

    One item at a time (``batch=False``), the next batch is fetched while the last one is
    handled: the consumer holds at most ``concurrency + batch_size`` items not yet handled
    (its heartbeat keeps them its own; from a Pool, at most ``concurrency``). The acks of
    items whose handlers returned are sent together, one call at a time: those that finish
    while an ack call runs go in the next.
    A failure is logged with its item and error; the traceback of the same failure (its
    type and the line that raised it) at most once every 10 s, the repeats counted.

    ``stop()``, SIGTERM or SIGINT stop it gracefully: no new fetch and no new handler,
    running handlers get ``grace_period`` seconds to finish, the acks of those that
    returned are sent, and what is left (unfinished, or fetched and not started) goes back
    to the front of the queue, with this consumer's processing list and lease removed.

    A Pool has no processing lists (``leases`` False): an item whose handler raises comes
    back after ``ack_ttl``, and there is nothing to renew, reject, recover or give back.

    Args:
        structure: The Queue, UniqueQueue, ShardedQueue or Pool to consume (any structure
            of the contract ``aiopyrq._types.Consumable``). Give each consumer its own
            object: the object is the consumer's identity.
        handler: ``async def handler(item)``, or ``async def handler(items)`` with
            ``batch=True``.
        batch: Call the handler once per batch; the whole batch is acked or rejected.
        batch_size: The most items fetched at once (one at a time: also the most fetched
            ahead of the handlers; lower it for slow handlers, so that items wait in the
            queue where other consumers can take them).
        concurrency: The most handler calls running at once.
        wait: Seconds a fetch blocks waiting for items before it looks at the stop flag.
        lease_timeout: Seconds without a heartbeat after which a consumer counts as dead.
        sweep_interval: Seconds between two recoveries of dead consumers' items.
        grace_period: Seconds running handlers get to finish when stopping.
        retry_delay: How long an item whose handler failed waits before it is delivered
            again (it is rejected with this delay, see ``Queue.reject_items``): seconds, or
            a function of the item's failed deliveries (1 at the first failure) that
            returns seconds. By default about 1 s, doubling with each failure, at most
            300 s, spread by up to 25 % either way. ``0``: back at the front of the queue
            at once.
        spans: Tracing: ``spans(operation, name)`` returns a context manager wrapped around
            each get, handler call, ack and reject (operation ``"get"``, ``"handle"``,
            ``"ack"``, ``"reject"``; name the structure's), e.g.
            ``aiopyrq.tracing.opentelemetry_spans()``. ``None``: no tracing.
    """

    def __init__(  # noqa: PLR0913 - each is a knob users ask for
        self,
        structure: Consumable,
        handler: Callable[[Any], Awaitable[object]],
        *,
        batch: bool = False,
        batch_size: int = 100,
        concurrency: int = 1,
        wait: float = 5.0,
        lease_timeout: int = 30,
        sweep_interval: float = 5.0,
        grace_period: float = 30.0,
        spans: SpanFactory | None = None,
        retry_delay: Delay = retry_after,
    ) -> None:
        if not isinstance(structure, Consumable):
            msg = f"structure must be a Queue, UniqueQueue, ShardedQueue or Pool: {structure!r}"
            raise TypeError(msg)
        self.structure = structure
        self.handler = handler
        self.batch = batch
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.concurrency = check_int(concurrency, "concurrency", minimum=1)
        self.wait = check_wait(wait)
        self.lease_timeout = check_int(lease_timeout, "lease_timeout", minimum=1)
        self.sweep_interval = check_wait(sweep_interval)
        self.grace_period = check_wait(grace_period)
        self.retry_delay = retry_delay if callable(retry_delay) else check_delay(retry_delay)
        self.stats = ConsumerStats()
        self.spans = spans
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()  # set when a handler slot frees, or on stop()
        self._busy = 0
        self._unsure = False  # a get failed: items may be held that nobody handles
        self._batches: set[asyncio.Task[None]] = set()  # the batches handled, or the workers
        self._ready: collections.deque[Any] = collections.deque()  # fetched, not started
        self._idle: collections.deque[asyncio.Future[None]] = collections.deque()  # workers
        self._waking = False  # a worker was woken and has not run yet
        self._running = 0  # one at a time: handlers running
        self._acks = Acks(self._ack, self.batch_size, self._more_coming, self._acked)
        self._failures = FailureLog(logger)

    def stop(self) -> None:
        """Ask the consumer to stop; ``run()`` returns once it has shut down."""
        self._stopping.set()
        self._changed.set()

    async def run(self, *, handle_signals: bool = True) -> None:
        """Consume until ``stop()`` (or SIGTERM / SIGINT with handle_signals), then shut down.

        Args:
            handle_signals: Stop gracefully on SIGTERM and SIGINT while running.
        """
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        for signum in signals:
            loop.add_signal_handler(signum, self.stop)
        upkeep = [asyncio.create_task(self._every(self._failures.window, self._report))]
        if self.structure.leases:
            upkeep += [
                asyncio.create_task(self._every(self.lease_timeout / 3, self.structure.heartbeat)),
                asyncio.create_task(self._every(self.sweep_interval, self._reap)),
            ]
        workers = [] if self.batch else [self._start(self._work()) for _ in range(self.concurrency)]
        acker = None if self.batch else asyncio.create_task(self._acks.run())
        try:
            await self._fetch_until_stopped()
        finally:
            await self._shut_down(upkeep, workers, acker)
            for signum in signals:
                loop.remove_signal_handler(signum)

    async def _fetch_until_stopped(self) -> None:
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                if self._unsure:
                    await self._give_back_unknown()
                    continue
                size = await self._next_size()
                if size == 0:
                    continue
                fetch = asyncio.create_task(self._get(size))
                await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()  # anything it moved is released at shut-down
                    await asyncio.gather(fetch, return_exceptions=True)
                    break
                await self._dispatch(fetch)
        finally:
            stopping.cancel()

    async def _next_size(self) -> int:
        """Wait until a fetch may hold more items; return how many (0: stopping).

        A batch, once fewer than ``concurrency`` batches run. One at a time: once fewer
        than ``concurrency`` fetched items wait for a handler and the acks are not behind by
        more than two batches, as many as keep those held and not handled within
        ``concurrency + batch_size``; within ``concurrency`` for a structure without leases
        (a Pool), whose items would be handed out again if they waited beyond ``ack_ttl``.
        """
        if self.batch:
            return self.batch_size if await self._room(self.concurrency - 1) else 0
        most = self.concurrency + (self.batch_size if self.structure.leases else 0)
        while not self._stopping.is_set():
            waiting = len(self._ready)
            room = most - waiting - self._running
            acks_behind = self._acks.pending > 2 * self.batch_size
            if waiting < self.concurrency and room > 0 and not acks_behind:
                return min(self.batch_size, room)
            self._changed.clear()
            await self._changed.wait()
        return 0

    def _span(self, operation: str) -> contextlib.AbstractContextManager[object]:
        if self.spans is None:
            return _NO_SPAN
        return self.spans(operation, self.structure.name)

    async def _get(self, size: int) -> list[Any]:
        with self._span("get"):
            return await self.structure.get_items(size, wait=self.wait)

    async def _dispatch(self, fetch: asyncio.Task[list[Any]]) -> None:
        try:
            items = fetch.result()
        except Exception:
            logger.exception("get_items on %s failed", self.structure.name)
            # Redis may have moved items before the reply was lost: they are in this
            # consumer's processing list, unknown to it, and its heartbeat keeps them there.
            self._unsure = self.structure.leases
            await self._pause(_RETRY_AFTER)
            return
        if not items:
            return
        if self.batch:
            self.stats.delivered += len(items)
            self._busy += 1
            self._start(self._process(items))
            return
        self._busy += len(items)
        self._ready.extend(items)
        if not self._waking:
            self._wake(1)

    def _wake(self, count: int) -> None:
        """Wake up to count idle workers."""
        idle = self._idle
        while idle and count > 0:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._waking = True
                count -= 1

    def _start(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)
        return task

    async def _room(self, most_busy: int) -> int:
        """Wait until at most most_busy slots are busy (or stopping); return the free slots."""
        while not self._stopping.is_set():
            if self._busy <= most_busy:
                return self.concurrency - self._busy
            self._changed.clear()
            await self._changed.wait()
        return 0

    async def _give_back_unknown(self) -> None:
        """After a failed get: once every running handler has settled, give back the rest.

        What is left in the processing list then is what the lost reply would have
        delivered; it goes back to the front of the queue, uncounted.
        """
        if await self._room(0) == 0:
            return  # stopping: the shut-down gives everything back
        try:
            released = await self.structure.release()
        except Exception:
            logger.exception("giving back after a failed get on %s failed", self.structure.name)
            await self._pause(_RETRY_AFTER)
            return
        self._unsure = False
        if released:
            logger.warning("gave back %d items of a lost get to %s", released, self.structure.name)

    async def _process(self, items: list[Any]) -> None:
        """Batch mode: handle a batch, then ack or reject it."""
        try:
            error = await self._handle(items)
            if error is None:
                await self._retried("ack", self.structure.ack_items, items)
                self.stats.acked += len(items)
            else:
                await self._failed(items, error)
        finally:
            self._busy -= 1
            self._changed.set()

    async def _work(self) -> None:
        """One at a time: one of the ``concurrency`` workers; handles items until stopping.

        A worker that takes an item while more wait wakes one more worker, which does the
        same: as many handlers run as items wait, up to ``concurrency``, and a handler that
        returns at once (never waiting) lets one worker handle a whole batch in one go.
        What was fetched and not started when the consumer stops goes back at shut-down.
        """
        ready, stopping, loop = self._ready, self._stopping, asyncio.get_running_loop()
        while not stopping.is_set():
            if not ready:
                waiter = loop.create_future()
                self._idle.append(waiter)
                await waiter
                self._waking = False
                continue
            item = ready.popleft()
            if ready and not self._waking:
                self._wake(1)
            if len(ready) < self.concurrency:
                self._changed.set()  # room for the next fetch
            self.stats.delivered += 1
            self._running += 1
            try:
                error = await self._handle(item)
            finally:
                self._running -= 1
            if error is None:
                self._acks.add(item)
            else:
                try:
                    await self._failed([item], error)
                finally:
                    self._busy -= 1
                    self._changed.set()

    async def _ack(self, items: list[Any]) -> bool:
        """One at a time: ack the items of handlers that returned; False if it gave up."""
        return await self._retried("ack", self.structure.ack_items, items) is not None

    def _more_coming(self) -> bool:
        return bool(self._running or self._ready)

    def _acked(self, items: list[Any], sent: bool) -> None:
        self._busy -= len(items)
        self._changed.set()
        if sent:
            self.stats.acked += len(items)

    async def _handle(self, what: Any) -> Exception | None:  # noqa: ANN401 - an item or a batch
        """Call the handler; return its error, None if it returned."""
        started = time.perf_counter()
        try:
            if self.spans is None:
                await self.handler(what)
            else:
                with self._span("handle"):
                    await self.handler(what)
        except Exception as error:  # noqa: BLE001 - any handler error fails the item
            return error
        finally:
            self.stats.time_handler(time.perf_counter() - started)
        return None

    async def _failed(self, items: list[Any], error: Exception) -> None:
        """The handler raised on items (a batch, or one item): log it, reject them."""
        self._failures.failed(self.structure.name, items if self.batch else items[0], error)
        self.stats.failed += len(items)
        if self.structure.leases:
            reject = functools.partial(self._reject, reason=error_reason(error))
            dead = await self._retried("reject", reject, items)
            self.stats.dead_lettered += dead or 0  # added after the await: rejects overlap

    async def _reject(self, items: list[Any], *, reason: str) -> int:
        """Reject failed items, to be delivered again after the retry delay."""
        return await self.structure.reject_items(items, self.retry_delay, reason=reason)

    async def _retried(
        self, operation: str, call: Callable[[list[Any]], Awaitable[int | None]], items: list[Any]
    ) -> int | None:
        """Run an ack or a reject until it succeeds (its reply, or 0), or the consumer stops.

        While it fails (Redis down or failing over), the items stay in this consumer's
        processing list, and its heartbeat keeps them its own: retrying is what brings them
        back. A consumer that stops meanwhile gives them back at shut-down (None).
        """
        while True:
            try:
                with self._span(operation):
                    return await call(items) or 0
            except Exception:
                logger.exception("%s on %s failed", operation, self.structure.name)
                if self._stopping.is_set():
                    return None
            await self._pause(_RETRY_AFTER)

    async def _report(self) -> None:
        self._failures.report()

    async def _every(self, interval: float, job: Callable[[], Awaitable[object]]) -> None:
        while not self._stopping.is_set():
            try:
                await job()
            except Exception:
                logger.exception("upkeep of %s failed", self.structure.name)
            await self._pause(interval)

    async def _pause(self, seconds: float) -> None:
        """Sleep for seconds, or less if the consumer is asked to stop meanwhile."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _reap(self) -> None:
        recovered = await self.structure.recover(self.lease_timeout, self.sweep_interval)
        if recovered:
            self.stats.recovered += recovered
            name = self.structure.name
            logger.warning("recovered %d items of dead consumers of %s", recovered, name)

    async def _shut_down(
        self,
        upkeep: list[asyncio.Task[None]],
        workers: list[asyncio.Task[None]],
        acker: asyncio.Task[None] | None,
    ) -> None:
        """Let running handlers finish within the grace period, ack, give back the rest."""
        self.stop()
        self._wake(len(workers))  # the idle ones return
        if self._batches:
            _, late = await asyncio.wait(self._batches, timeout=self.grace_period)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if acker is not None:
            self._acks.close()  # every handler is done: send what is left
            await asyncio.gather(acker, return_exceptions=True)  # bounded: gives up on error
        # The heartbeat and the reaper end after their call under way, which, cut off,
        # could still reach the server after the release below and leave a lease behind.
        _, late = await asyncio.wait(upkeep, timeout=self.grace_period)
        for task in late:
            task.cancel()
        await asyncio.gather(*upkeep, return_exceptions=True)
        self._failures.report()
        if self.structure.leases:
            released = await self.structure.release()
            if released:
                logger.info("gave %d unfinished items back to %s", released, self.structure.name)
