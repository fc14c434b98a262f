"""Consumer: runs an async handler over a queue's items, with leases, recovery and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiopyrq._base import check_int, check_wait
from aiopyrq._delay import check_delay, retry_after
from aiopyrq._types import Consumable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiopyrq._delay import Delay

    SpanFactory = Callable[[str, str], contextlib.AbstractContextManager[object]]

logger = logging.getLogger("aiopyrq")

_RETRY_AFTER = 1.0  # seconds to wait after a failed get, ack or reject before trying again
_NO_SPAN = contextlib.nullcontext()

HANDLER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds, in seconds, of the handler durations counted in ``ConsumerStats``."""


@dataclass
class ConsumerStats:
    """What a consumer has done so far.

    Attributes:
        delivered: Items handed to the handler.
        acked: Items acknowledged after the handler succeeded.
        failed: Items whose handler raised (rejected, or left to ``ack_ttl`` in a Pool).
        recovered: Items of dead consumers this consumer's reaper put back in the queue.
        dead_lettered: Items this consumer rejected into the dead letters.
        handler_calls: Handler calls finished (one per item, or per batch with batch=True).
        handler_seconds: Their total duration.
        handler_buckets: For each bound of ``HANDLER_BUCKETS``, the calls that took at most
            that long (cumulative, as a Prometheus histogram counts).
    """

    delivered: int = 0
    acked: int = 0
    failed: int = 0
    recovered: int = 0
    dead_lettered: int = 0
    handler_calls: int = 0
    handler_seconds: float = 0.0
    handler_buckets: list[int] = field(default_factory=lambda: [0] * len(HANDLER_BUCKETS))

    def time_handler(self, seconds: float) -> None:
        """Count one handler call that took ``seconds``."""
        self.handler_calls += 1
        self.handler_seconds += seconds
        # A new list, so that a metrics scrape in another thread never sees half an update.
        self.handler_buckets = [
            count + (seconds <= bound)
            for count, bound in zip(self.handler_buckets, HANDLER_BUCKETS, strict=True)
        ]


class Consumer:
    """Runs an async handler over the items of a Queue, UniqueQueue, ShardedQueue or Pool.

    Items are fetched in batches with a blocking get, handled with at most
    ``concurrency`` handlers at a time, acknowledged on success and rejected (counted
    towards dead letters) when the handler raises. Alongside, a heartbeat keeps this
    consumer's lease fresh, and a reaper returns the items of dead consumers to the queue
    once their lease is ``lease_timeout`` seconds old (one reaper per queue at a time).

    ``stop()``, SIGTERM or SIGINT stop it gracefully: no new fetch, running handlers get
    ``grace_period`` seconds to finish, and what is left goes back to the front of the
    queue, with this consumer's processing list and lease removed.

    A Pool has no processing lists (``leases`` False): an item whose handler raises comes
    back after ``ack_ttl``, and there is nothing to renew, reject, recover or give back.

    Args:
        structure: The Queue, UniqueQueue, ShardedQueue or Pool to consume (any structure
            of the contract ``aiopyrq._types.Consumable``). Give each consumer its own
            object: the object is the consumer's identity.
        handler: ``async def handler(item)``, or ``async def handler(items)`` with
            ``batch=True``.
        batch: Call the handler once per batch; the whole batch is acked or rejected.
        batch_size: The most items fetched at once.
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
        self._batches: set[asyncio.Task[None]] = set()

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
        upkeep = []
        if self.structure.leases:
            upkeep = [
                asyncio.create_task(self._every(self.lease_timeout / 3, self.structure.heartbeat)),
                asyncio.create_task(self._every(self.sweep_interval, self._reap)),
            ]
        try:
            await self._fetch_until_stopped()
        finally:
            await self._shut_down(upkeep)
            for signum in signals:
                loop.remove_signal_handler(signum)

    async def _fetch_until_stopped(self) -> None:
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                if self._unsure:
                    await self._give_back_unknown()
                    continue
                room = await self._room(self.concurrency - 1)
                if room == 0:
                    continue
                size = self.batch_size if self.batch else min(self.batch_size, room)
                fetch = asyncio.create_task(self._get(size))
                await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()  # anything it moved is released at shut-down
                    await asyncio.gather(fetch, return_exceptions=True)
                    break
                await self._dispatch(fetch)
        finally:
            stopping.cancel()

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
        if items:
            self.stats.delivered += len(items)
            self._busy += 1 if self.batch else len(items)
            task = asyncio.create_task(self._process(items))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

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
        try:
            if self.batch:
                fine = [await self._handle(items)] * len(items)
            else:
                fine = await asyncio.gather(*(self._handle(item) for item in items))
            done = [item for item, ok in zip(items, fine, strict=True) if ok]
            failed = [item for item, ok in zip(items, fine, strict=True) if not ok]
            await self._settle(done, failed)
        finally:
            self._busy -= 1 if self.batch else len(items)
            self._changed.set()

    async def _handle(self, what: Any) -> bool:  # noqa: ANN401 - an item or a batch
        started = time.perf_counter()
        try:
            with self._span("handle"):
                await self.handler(what)
        except Exception:
            logger.exception("handler failed on %s", self.structure.name)
            return False
        finally:
            self.stats.time_handler(time.perf_counter() - started)
        return True

    async def _settle(self, done: list[Any], failed: list[Any]) -> None:
        """Ack what succeeded, reject what failed."""
        if done:
            await self._retried("ack", self.structure.ack_items, done)
            self.stats.acked += len(done)
        if failed:
            self.stats.failed += len(failed)
            if self.structure.leases:
                dead = await self._retried("reject", self._reject, failed)
                self.stats.dead_lettered += dead  # added after the await: rejects overlap

    async def _reject(self, items: list[Any]) -> int:
        """Reject failed items, to be delivered again after the retry delay."""
        return await self.structure.reject_items(items, self.retry_delay)

    async def _retried(
        self, operation: str, call: Callable[[list[Any]], Awaitable[int | None]], items: list[Any]
    ) -> int:
        """Run an ack or a reject until it succeeds, or until the consumer stops.

        While it fails (Redis down or failing over), the items stay in this consumer's
        processing list, and its heartbeat keeps them its own: retrying is what brings them
        back. A consumer that stops meanwhile gives them back at shut-down.
        """
        while True:
            try:
                with self._span(operation):
                    return await call(items) or 0
            except Exception:
                logger.exception("%s on %s failed", operation, self.structure.name)
                if self._stopping.is_set():
                    return 0
            await self._pause(_RETRY_AFTER)

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

    async def _shut_down(self, upkeep: list[asyncio.Task[None]]) -> None:
        """Let running handlers finish within the grace period, then give back the rest."""
        self.stop()
        if self._batches:
            _, late = await asyncio.wait(self._batches, timeout=self.grace_period)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for task in upkeep:
            task.cancel()
        await asyncio.gather(*upkeep, return_exceptions=True)
        if self.structure.leases:
            released = await self.structure.release()
            if released:
                logger.info("gave %d unfinished items back to %s", released, self.structure.name)
