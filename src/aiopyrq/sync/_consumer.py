"""Consumer: runs a plain function over a structure's items in worker threads.

The sync twin of ``aiopyrq.Consumer`` (``aiopyrq._consumer``), with the same options and
the same rules: a blocking get in the calling thread, at most ``concurrency`` handlers at a
time (one worker thread each), one ack (and one reject) per batch got, a heartbeat and a
reaper in threads of their own, and a graceful stop on ``stop()``, SIGTERM or SIGINT.
Written by hand: threads are not tasks. What they share is kept in ``aiopyrq._consumer``
(``ConsumerStats``, the pause after a failure) and in the structures' contract.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import queue
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from aiopyrq._base import check_int, check_wait
from aiopyrq._consumer import _RETRY_AFTER
from aiopyrq._stats import ConsumerStats
from aiopyrq.sync._types import Consumable

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

    SpanFactory = Callable[[str, str], contextlib.AbstractContextManager[object]]

logger = logging.getLogger("aiopyrq")

_NO_SPAN = contextlib.nullcontext()
_STOP_WORKER = None
_JOIN = 1.0  # seconds to wait for an upkeep thread's last call at shut-down


class Consumer:
    """Runs a plain function over the items of a sync Queue, UniqueQueue, ShardedQueue or Pool.

    Items are fetched in batches with a blocking get in the thread that calls ``run()``,
    handled by at most ``concurrency`` worker threads at a time, acknowledged on success
    (one ack per batch got) and rejected (counted towards dead letters) when the handler
    raises. Alongside, a heartbeat thread keeps this consumer's lease fresh, and a reaper
    thread returns the items of dead consumers to the queue once their lease is
    ``lease_timeout`` seconds old (one reaper per queue at a time).

    ``stop()``, SIGTERM or SIGINT stop it gracefully: no new fetch (a get under way ends
    within ``wait`` seconds, and what it took is not started), running handlers get
    ``grace_period`` seconds to finish and be acked, and what is left goes back to the
    front of the queue, with this consumer's processing list and lease removed. A handler
    still running after the grace period cannot be stopped (a thread): its item is given
    back all the same, and its thread, a daemon, is left to end on its own.

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
        self.stats = ConsumerStats()
        self.spans = spans
        self._stopping = threading.Event()
        self._changed = threading.Condition()  # notified when a slot frees, or on stop()
        self._busy = 0  # items (batches with batch=True) handed to workers, not yet settled
        self._counting = threading.Lock()  # around the stats: workers update them at once
        self._unsure = False  # a get failed: items may be held that nobody handles
        self._abandoned = False  # shut down with handlers running: their items went back
        self._work: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()

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
        workers = [self._thread(self._work_on, f"worker-{i}") for i in range(self.concurrency)]
        upkeep = []
        if self.structure.leases:
            upkeep = [
                self._thread(lambda: self._every(self.lease_timeout / 3, self._heartbeat), "beat"),
                self._thread(lambda: self._every(self.sweep_interval, self._reap), "reaper"),
            ]
        try:
            self._fetch_until_stopped()
        finally:
            self._shut_down(workers, upkeep)
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
            room = self._room(self.concurrency - 1)
            if room == 0:
                continue
            size = self.batch_size if self.batch else min(self.batch_size, room)
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

    def _dispatch(self, items: list[Any]) -> None:
        """Hand the items to the workers: each its own handler call, or one for the batch."""
        with self._counting:
            self.stats.delivered += len(items)
        with self._changed:
            self._busy += 1 if self.batch else len(items)
        if self.batch:
            self._work.put(lambda: self._settle_batch(items))
            return
        got = _Batch(items)
        for i, item in enumerate(items):
            self._work.put(functools.partial(self._handle_one, got, i, item))

    def _work_on(self) -> None:
        """A worker thread: run what is handed to it until told to stop."""
        while (job := self._work.get()) is not _STOP_WORKER:
            job()

    def _handle_one(self, got: _Batch, i: int, item: Any) -> None:  # noqa: ANN401 - an item
        """Handle one item; the last of its batch to finish settles the batch."""
        last = got.record(i, ok=self._handle(item))
        if last:
            try:
                self._settle(*got.outcome())
            finally:
                self._free(len(got.items))

    def _settle_batch(self, items: list[Any]) -> None:
        try:
            ok = self._handle(items)
            self._settle(items if ok else [], [] if ok else items)
        finally:
            self._free(1)

    def _free(self, slots: int) -> None:
        with self._changed:
            self._busy -= slots
            self._changed.notify_all()

    def _room(self, most_busy: int) -> int:
        """Wait until at most most_busy slots are busy (or stopping); return the free slots."""
        with self._changed:
            while not self._stopping.is_set():
                if self._busy <= most_busy:
                    return self.concurrency - self._busy
                self._changed.wait()
        return 0

    def _give_back_unknown(self) -> None:
        """After a failed get: once every running handler has settled, give back the rest."""
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

    def _handle(self, what: Any) -> bool:  # noqa: ANN401 - an item or a batch
        started = time.perf_counter()
        try:
            with self._span("handle"):
                self.handler(what)
        except Exception:
            logger.exception("handler failed on %s", self.structure.name)
            return False
        finally:
            with self._counting:
                self.stats.time_handler(time.perf_counter() - started)
        return True

    def _settle(self, done: list[Any], failed: list[Any]) -> None:
        """Ack what succeeded, reject what failed: one call each for the batch.

        A handler that ends after the grace period settles nothing: its item went back to
        the queue at shut-down.
        """
        if self._abandoned:
            return
        if done:
            self._retried("ack", self.structure.ack_items, done)
            with self._counting:
                self.stats.acked += len(done)
        if failed:
            with self._counting:
                self.stats.failed += len(failed)
            if self.structure.leases:
                dead = self._retried("reject", self.structure.reject_items, failed)
                with self._counting:
                    self.stats.dead_lettered += dead

    def _retried(
        self, operation: str, call: Callable[[list[Any]], int | None], items: list[Any]
    ) -> int:
        """Run an ack or a reject until it succeeds, or until the consumer stops.

        While it fails, the items stay in this consumer's processing list, and its
        heartbeat keeps them its own; a consumer that stops meanwhile gives them back.
        """
        while True:
            try:
                with self._span(operation):
                    return call(items) or 0
            except Exception:
                logger.exception("%s on %s failed", operation, self.structure.name)
                if self._stopping.is_set():
                    return 0
            self._pause(_RETRY_AFTER)

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

    def _shut_down(self, workers: list[threading.Thread], upkeep: list[threading.Thread]) -> None:
        """Let running handlers finish within the grace period, then give back the rest."""
        self.stop()
        deadline = time.monotonic() + self.grace_period
        with self._changed:
            while self._busy and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            late = self._busy
            self._abandoned = bool(late)
        if late:
            logger.warning(
                "%d handler calls on %s outlived the grace period", late, self.structure.name
            )
        for _ in workers:
            self._work.put(_STOP_WORKER)
        for thread in upkeep:
            thread.join(_JOIN)
        if not late:
            for thread in workers:
                thread.join(_JOIN)
        if self.structure.leases:
            released = self.structure.release()
            if released:
                logger.info("gave %d unfinished items back to %s", released, self.structure.name)


class _Batch:
    """The items of one get, handled one per worker: settled together by the last one."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self._ok: list[bool] = [False] * len(items)
        self._left = len(items)
        self._lock = threading.Lock()

    def record(self, i: int, *, ok: bool) -> bool:
        """Record the outcome of item i; whether it was the last of the batch."""
        with self._lock:
            self._ok[i] = ok
            self._left -= 1
            return self._left == 0

    def outcome(self) -> tuple[list[Any], list[Any]]:
        """The items whose handler succeeded, and those whose handler raised."""
        done = [item for item, ok in zip(self.items, self._ok, strict=True) if ok]
        failed = [item for item, ok in zip(self.items, self._ok, strict=True) if not ok]
        return done, failed
