"""Consumer: runs a plain function over a structure's items in worker threads.

The sync twin of ``aiopyrq.Consumer`` (``aiopyrq._consumer``), with the same options and
the same rules: a blocking get in the calling thread, at most ``concurrency`` handlers at a
time (one worker thread each), the next batch fetched while the last is handled, the acks
of finished handlers gathered and sent one call at a time (``aiopyrq.sync._acks``), a
heartbeat and a reaper in threads of their own, and a graceful stop on ``stop()``, SIGTERM
or SIGINT. Written by hand: threads are not tasks. What the twins share is kept in one
place: ``ConsumerStats``, the failure log, the pause after a failure, the structures'
contract.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import inspect
import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from aiopyrq._base import check_int, check_wait
from aiopyrq._consumer import _RETRY_AFTER
from aiopyrq._dead import error_reason
from aiopyrq._delay import check_delay, retry_after
from aiopyrq._failures import FailureLog
from aiopyrq._stats import ConsumerStats
from aiopyrq.sync._acks import Acks
from aiopyrq.sync._types import Consumable

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

    from aiopyrq._delay import Delay

    SpanFactory = Callable[[str, str], contextlib.AbstractContextManager[object]]

logger = logging.getLogger("aiopyrq")

_NO_SPAN = contextlib.nullcontext()
_JOIN = 1.0  # seconds to wait for an upkeep thread's last call at shut-down


class Consumer:
    """Runs a plain function over the items of a sync Queue, UniqueQueue, ShardedQueue or Pool.

    Items are fetched in batches with a blocking get in the thread that calls ``run()``,
    handled by at most ``concurrency`` worker threads at a time, acknowledged on success
    and rejected (counted towards dead letters) when the handler raises. Alongside, a
    heartbeat thread keeps this consumer's lease fresh, and a reaper thread returns the
    items of dead consumers to the queue once their lease is ``lease_timeout`` seconds old
    (one reaper per queue at a time).

    One item at a time (``batch=False``), the next batch is fetched while the last one is
    handled: the consumer holds at most ``concurrency + batch_size`` items not yet handled
    (from a Pool, at most ``concurrency``). The acks of items whose handlers returned are
    sent together, one call at a time, as the asyncio Consumer sends them.

    ``stop()``, SIGTERM or SIGINT stop it gracefully: no new fetch (a get under way ends
    within ``wait`` seconds) and no new handler, running handlers get ``grace_period``
    seconds to finish, the acks of those that returned are sent, and what is left
    (unfinished, or fetched and not started) goes back to the front of the queue, with this
    consumer's processing list and lease removed. A handler still running after the grace
    period cannot be stopped (a thread): its item goes back all the same, its result is not
    settled, and its thread, a daemon, is left to end on its own.

    Args:
        structure: The ``aiopyrq.sync`` structure to consume. Give each consumer its own
            object: the object is the consumer's identity.
        handler: ``def handler(item)``, or ``def handler(items)`` with ``batch=True``.
        batch: Call the handler once per batch; the whole batch is acked or rejected.
        batch_size: The most items fetched at once.
        concurrency: The most handler calls running at once (worker threads).
        wait: Seconds a fetch blocks waiting for items before it looks at the stop flag.
        lease_timeout: Seconds without a heartbeat after which a consumer counts as dead.
        sweep_interval: Seconds between two recoveries of dead consumers' items.
        grace_period: Seconds running handlers get to finish when stopping.
        spans: Tracing, as for ``aiopyrq.Consumer``.
        retry_delay: How long an item whose handler failed waits before it is delivered
            again, as for ``aiopyrq.Consumer``: seconds, or a function of the item's failed
            deliveries that returns seconds; by default about 1 s, doubling, at most 300 s.

    Raises:
        TypeError: The structure is not a sync structure, or the handler is a coroutine
            function (use ``aiopyrq.Consumer``), or an option has the wrong type.
        ValueError: An option is out of range.
    """

    def __init__(  # noqa: PLR0913 - each is a knob users ask for
        self,
        structure: Consumable,
        handler: Callable[[Any], object],
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
        if not isinstance(structure, Consumable) or inspect.iscoroutinefunction(
            structure.get_items
        ):
            msg = f"structure must be an aiopyrq.sync structure: {structure!r}"
            raise TypeError(msg)
        if inspect.iscoroutinefunction(handler):
            msg = "handler is a coroutine function: run it with aiopyrq.Consumer"
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
        self._stopping = threading.Event()
        self._changed = threading.Condition()  # around what follows; notified on each change
        self._busy = 0  # items (batches with batch=True) fetched and not settled
        self._running = 0  # handler calls running
        self._ready: collections.deque[Any] = collections.deque()  # fetched, not started
        self._abandoned = False  # shut down with handlers running: their items went back
        self._counting = threading.Lock()  # around the stats and the failure log
        self._unsure = False  # a get failed: items may be held that nobody handles
        self._acks = Acks(self._ack, self.batch_size, self._more_coming, self._acked)
        self._failures = FailureLog(logger)

    def stop(self) -> None:
        """Ask the consumer to stop; ``run()`` returns once it has shut down."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()

    def run(self, *, handle_signals: bool = True) -> None:
        """Consume until ``stop()`` (or SIGTERM / SIGINT with handle_signals), then shut down.

        Args:
            handle_signals: Stop gracefully on SIGTERM and SIGINT while running (signals
                reach the main thread only: call ``run()`` there, or pass False).

        Raises:
            ValueError: handle_signals in a thread other than the main thread.
        """
        previous = self._catch_signals() if handle_signals else {}
        workers = [self._thread(self._work, f"worker-{i}") for i in range(self.concurrency)]
        acker = None if self.batch else self._thread(self._acks.run, "acks")
        upkeep = [self._thread(lambda: self._every(self._failures.window, self._report), "log")]
        if self.structure.leases:
            upkeep += [
                self._thread(lambda: self._every(self.lease_timeout / 3, self._heartbeat), "beat"),
                self._thread(lambda: self._every(self.sweep_interval, self._reap), "reaper"),
            ]
        try:
            self._fetch_until_stopped()
        finally:
            self._shut_down(workers, acker, upkeep)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _catch_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            msg = "handle_signals needs run() in the main thread (or pass handle_signals=False)"
            raise ValueError(msg)

        def on_signal(signum: int, frame: FrameType | None) -> None:
            del signum, frame
            self.stop()

        return {
            signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)
        }

    def _thread(self, target: Callable[[], None], role: str) -> threading.Thread:
        name = f"aiopyrq-{self.structure.name}-{role}"
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def _fetch_until_stopped(self) -> None:
        while not self._stopping.is_set():
            if self._unsure:
                self._give_back_unknown()
                continue
            size = self._next_size()
            if size == 0:
                continue
            try:
                with self._span("get"):
                    items = self.structure.get_items(size, wait=self.wait)
            except Exception:
                logger.exception("get_items on %s failed", self.structure.name)
                # Redis may have moved items before the reply was lost: they are in this
                # consumer's processing list, unknown to it, and its heartbeat keeps them there.
                self._unsure = self.structure.leases
                self._pause(_RETRY_AFTER)
                continue
            if items and not self._stopping.is_set():  # else: given back at shut-down
                self._dispatch(items)

    def _next_size(self) -> int:
        """Wait until a fetch may hold more items; return how many (0: stopping).

        As ``aiopyrq.Consumer`` decides: a batch once fewer than ``concurrency`` batches
        run; one at a time, what keeps the items held and not handled within
        ``concurrency + batch_size`` (a Pool: ``concurrency``), acks at most two batches
        behind.
        """
        with self._changed:
            if self.batch:
                return self.batch_size if self._room(self.concurrency - 1) else 0
            most = self.concurrency + (self.batch_size if self.structure.leases else 0)
            while not self._stopping.is_set():
                waiting = len(self._ready)
                room = most - waiting - self._running
                acks_behind = self._acks.pending > 2 * self.batch_size
                if waiting < self.concurrency and room > 0 and not acks_behind:
                    return min(self.batch_size, room)
                self._changed.wait()
            return 0

    def _room(self, most_busy: int) -> int:
        """Wait until at most most_busy slots are busy (or stopping); the free slots.

        Called with the lock held.
        """
        while not self._stopping.is_set():
            if self._busy <= most_busy:
                return self.concurrency - self._busy
            self._changed.wait()
        return 0

    def _dispatch(self, items: list[Any]) -> None:
        """Hand the items to the workers: one at a time, or the batch as one."""
        with self._changed:
            if self.batch:
                self._busy += 1
                self._ready.append(items)
            else:
                self._busy += len(items)
                self._ready.extend(items)
            self._changed.notify_all()

    def _work(self) -> None:
        """A worker thread: handle what is ready, until stopping (no new handler then)."""
        while True:
            with self._changed:
                while not self._ready and not self._stopping.is_set():
                    self._changed.wait()
                if self._stopping.is_set():
                    return
                what = self._ready.popleft()
                self._running += 1
                self._changed.notify_all()  # room for the next fetch
            with self._counting:
                self.stats.delivered += len(what) if self.batch else 1
            try:  # running until settled: the shut-down waits for the ack or the reject
                error = self._handle(what)
                if self.batch:
                    self._settle_batch(what, error)
                elif error is None:
                    self._acks.add(what)
                else:
                    self._failed([what], error, slots=1)
            finally:
                with self._changed:
                    self._running -= 1
                    self._changed.notify_all()

    def _settle_batch(self, items: list[Any], error: Exception | None) -> None:
        if error is not None:
            self._failed(items, error, slots=1)
            return
        try:
            if not self._abandoned:
                self._retried("ack", self.structure.ack_items, items)
                with self._counting:
                    self.stats.acked += len(items)
        finally:
            self._free(1)

    def _free(self, slots: int) -> None:
        with self._changed:
            self._busy -= slots
            self._changed.notify_all()

    def _ack(self, items: list[Any]) -> bool:
        """One at a time: ack the items of handlers that returned; False if it gave up."""
        if self._abandoned:
            return False
        return self._retried("ack", self.structure.ack_items, items) is not None

    def _more_coming(self) -> bool:
        return bool(self._running or self._ready)

    def _acked(self, items: list[Any], sent: bool) -> None:
        self._free(len(items))
        if sent:
            with self._counting:
                self.stats.acked += len(items)

    def _give_back_unknown(self) -> None:
        """After a failed get: once every running handler has settled, give back the rest."""
        with self._changed:
            if self._room(0) == 0:
                return  # stopping: the shut-down gives everything back
        try:
            released = self.structure.release()
        except Exception:
            logger.exception("giving back after a failed get on %s failed", self.structure.name)
            self._pause(_RETRY_AFTER)
            return
        self._unsure = False
        if released:
            logger.warning("gave back %d items of a lost get to %s", released, self.structure.name)

    def _span(self, operation: str) -> contextlib.AbstractContextManager[object]:
        if self.spans is None:
            return _NO_SPAN
        return self.spans(operation, self.structure.name)

    def _handle(self, what: Any) -> Exception | None:  # noqa: ANN401 - an item or a batch
        """Call the handler; return its error, None if it returned."""
        started = time.perf_counter()
        try:
            with self._span("handle"):
                self.handler(what)
        except Exception as error:  # noqa: BLE001 - any handler error fails the item
            return error
        finally:
            with self._counting:
                self.stats.time_handler(time.perf_counter() - started)
        return None

    def _failed(self, items: list[Any], error: Exception, *, slots: int) -> None:
        """The handler raised on items (a batch, or one item): log it, reject them."""
        try:
            with self._counting:
                item = items if self.batch else items[0]
                self._failures.failed(self.structure.name, item, error)
                self.stats.failed += len(items)
            if self.structure.leases and not self._abandoned:
                reject = functools.partial(self._reject, reason=error_reason(error))
                dead = self._retried("reject", reject, items)
                with self._counting:
                    self.stats.dead_lettered += dead or 0
        finally:
            self._free(slots)

    def _reject(self, items: list[Any], *, reason: str) -> int:
        """Reject failed items, to be delivered again after the retry delay."""
        return self.structure.reject_items(items, self.retry_delay, reason=reason)

    def _retried(
        self, operation: str, call: Callable[[list[Any]], int | None], items: list[Any]
    ) -> int | None:
        """Run an ack or a reject until it succeeds (its reply, or 0), or the consumer stops.

        While it fails, the items stay in this consumer's processing list, and its
        heartbeat keeps them its own; a consumer that stops meanwhile gives them back (None).
        """
        while True:
            try:
                with self._span(operation):
                    return call(items) or 0
            except Exception:
                logger.exception("%s on %s failed", operation, self.structure.name)
                if self._stopping.is_set():
                    return None
            self._pause(_RETRY_AFTER)

    def _report(self) -> None:
        with self._counting:
            self._failures.report()

    def _every(self, interval: float, job: Callable[[], object]) -> None:
        while not self._stopping.is_set():
            try:
                job()
            except Exception:
                logger.exception("upkeep of %s failed", self.structure.name)
            self._pause(interval)

    def _pause(self, seconds: float) -> None:
        """Sleep for seconds, or less if the consumer is asked to stop meanwhile."""
        self._stopping.wait(seconds)

    def _heartbeat(self) -> None:
        self.structure.heartbeat()

    def _reap(self) -> None:
        recovered = self.structure.recover(self.lease_timeout, self.sweep_interval)
        if recovered:
            with self._counting:
                self.stats.recovered += recovered
            name = self.structure.name
            logger.warning("recovered %d items of dead consumers of %s", recovered, name)

    def _shut_down(
        self,
        workers: list[threading.Thread],
        acker: threading.Thread | None,
        upkeep: list[threading.Thread],
    ) -> None:
        """Let running handlers finish within the grace period, ack, give back the rest."""
        self.stop()
        deadline = time.monotonic() + self.grace_period
        with self._changed:
            while self._running and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            late = self._running
            self._abandoned = bool(late)
        if late:
            name = self.structure.name
            logger.warning("%d handler calls on %s outlived the grace period", late, name)
        else:
            for thread in workers:  # each has settled its last item, and returns
                thread.join(_JOIN)
        if acker is not None:
            self._acks.close()  # every handler is done: send what is left
            acker.join()  # bounded: gives up on an error once stopping
        for thread in upkeep:
            thread.join(_JOIN)
        with self._counting:
            self._failures.report()
        if self.structure.leases:
            released = self.structure.release()
            if released:
                logger.info("gave %d unfinished items back to %s", released, self.structure.name)
