"""What a Consumer has done so far: its counters and its handlers' durations."""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field

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
    # The calls per bucket (not cumulative), the last above every bound.
    _counts: list[int] = field(
        init=False, repr=False, default_factory=lambda: [0] * (len(HANDLER_BUCKETS) + 1)
    )

    @property
    def handler_buckets(self) -> list[int]:
        """For each bound of ``HANDLER_BUCKETS``, the calls that took at most that long."""
        return list(itertools.accumulate(self._counts[:-1]))  # a copy: one consistent read

    @handler_buckets.setter
    def handler_buckets(self, cumulative: list[int]) -> None:
        above = [self.handler_calls - (cumulative[-1] if cumulative else 0)]
        self._counts = [b - a for a, b in zip([0, *cumulative], cumulative, strict=False)] + above

    def time_handler(self, seconds: float) -> None:
        """Count one handler call that took ``seconds``."""
        self.handler_calls += 1  # first: a scrape in another thread sees no bucket above it
        self.handler_seconds += seconds
        self._counts[bisect.bisect_left(HANDLER_BUCKETS, seconds)] += 1
