"""Prometheus metrics: queue figures read from Redis at each scrape, and Consumer counters.

Needs the extra ``prometheus`` (``pip install 'aio-py-rq[prometheus]'``)::

    from prometheus_client import REGISTRY, start_http_server
    from aiopyrq.metrics import QueueCollector

    REGISTRY.register(QueueCollector(url, ["emails"], consumers=[consumer]))
    start_http_server(9100)

Every metric has the labels ``queue`` (the structure's name) and ``kind`` (how it keeps its
items: ``queue``, ``unique`` or ``pool``; a sharded queue: its shards' kind), except
``aiopyrq_redis_up``. A sharded queue (ShardedQueue) is reported under its own name, its
shards summed (the oldest age: the oldest of its shards; consumers: their leases on every
shard). Counts are in items (consumers: in consumers), times in seconds:

==========================================  =========  ==========================================
``aiopyrq_waiting_items``                   gauge      Queue: items waiting; Pool: items due
``aiopyrq_in_flight_items``                 gauge      items taken and not yet acked or rejected
``aiopyrq_delayed_items``                   gauge      Queue: delayed items not yet due
``aiopyrq_oldest_in_flight_age_seconds``    gauge      Queue: seconds since the most silent
                                                       consumer holding items renewed its lease
``aiopyrq_consumers``                       gauge      Queue: consumers with a lease
``aiopyrq_dead_letters``                    gauge      Queue: items in ``NAME-dead``
``aiopyrq_pool_items``                      gauge      Pool: items in all
``aiopyrq_items_per_second``                gauge      items per second of each ``event``
                                                       (``added``, ``delivered``, ``acked``,
                                                       ``failed``, ``recovered``, ``dead``) over
                                                       the last full minute of the history
``aiopyrq_redis_up``                        gauge      1 if this scrape could read Redis, else 0
``aiopyrq_consumer_delivered_total``        counter    items handed to the handler
``aiopyrq_consumer_acked_total``            counter    items acked after the handler succeeded
``aiopyrq_consumer_failed_total``           counter    items whose handler raised (rejected)
``aiopyrq_consumer_recovered_total``        counter    items of dead consumers put back (they
                                                       are delivered again)
``aiopyrq_consumer_dead_lettered_total``    counter    items rejected into the dead letters
``aiopyrq_consumer_handler_duration_s...``  histogram  handler call durations, seconds
==========================================  =========  ==========================================

The counters are those of the Consumers given to the collector (``Consumer.stats``), summed
per queue: each process exposes its own, and Prometheus adds them up across processes.
``aiopyrq_items_per_second`` is read from the structure's history in Redis
(``get_history``), which the scripts write whoever calls them: every process sees the same
figure (aggregate it with ``max``, not ``sum``), and it changes once a minute.
"""

from __future__ import annotations

import importlib
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import redis

from aiopyrq import _history, _snapshot
from aiopyrq._keys import shard_names
from aiopyrq._stats import HANDLER_BUCKETS, ConsumerStats
from aiopyrq.errors import MissingDependencyError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from prometheus_client.metrics_core import Metric

    from aiopyrq._consumer import Consumer
    from aiopyrq._types import Kind

__all__ = ["QueueCollector"]

logger = logging.getLogger("aiopyrq")

_TIMEOUT = 5.0  # seconds: the most one Redis command of a scrape may take

_GAUGES = {
    "waiting_items": "Items waiting (Pool: items due), in items.",
    "in_flight_items": "Items taken and not yet acknowledged or rejected, in items.",
    "delayed_items": "Items delayed and not yet due (Queue, UniqueQueue), in items.",
    "oldest_in_flight_age_seconds": (
        "Seconds since the most silent consumer holding items renewed its lease."
    ),
    "consumers": "Consumers with a lease (their last get or heartbeat), in consumers.",
    "dead_letters": "Dead letters (max_deliveries reached), in items.",
    "pool_items": "Pool: items in all, due or not, in items.",
}
_COUNTERS = {
    "delivered": "Items a Consumer handed to its handler, in items.",
    "acked": "Items acknowledged after the handler succeeded, in items.",
    "failed": "Items whose handler raised: rejected (Queue) or left to ack_ttl (Pool), in items.",
    "recovered": "Items of dead consumers put back in the queue, to be delivered again, in items.",
    "dead_lettered": "Items a Consumer rejected into the dead letters (max_deliveries reached).",
}
_LABELS = ["queue", "kind"]
_RATE = (
    "Items per second over the last full minute of the structure's history in Redis, by "
    "event: added, delivered, acked, failed, recovered, dead."
)


def _prometheus() -> Any:  # noqa: ANN401 - the module prometheus_client.core
    try:
        return importlib.import_module("prometheus_client.core")
    except ImportError as exc:
        msg = "aiopyrq.metrics needs prometheus-client: pip install 'aio-py-rq[prometheus]'"
        raise MissingDependencyError(msg) from exc


class QueueCollector:
    """A Prometheus collector of queues' figures and of Consumers' counters.

    The figures are read from Redis at each scrape, with a synchronous client of its own
    (the collector runs in the thread of the HTTP server, not in the event loop), made at
    the first scrape: a ``RedisCluster`` client if the server is a cluster node.

    Args:
        redis_url: The Redis URL, or a ready synchronous ``redis.Redis`` or
            ``redis.cluster.RedisCluster`` client.
        names: Queues, UniqueQueues and Pools to report; their kind is found from the types
            of their keys (a name without any key reports an empty Queue).
        consumers: Consumers whose counters to report; their structures are reported too
            (a ShardedQueue's with its shards summed).
        shards: Sharded queues to report, by name: how many shards each has.
        cluster: Whether ``redis_url`` is a Redis Cluster node; ``None``: ask the server
            (``INFO``) at the first scrape.

    Raises:
        MissingDependencyError: prometheus-client is not installed (the extra ``prometheus``).
    """

    def __init__(
        self,
        redis_url: str | _snapshot.Client,
        names: Iterable[str] = (),
        *,
        consumers: Iterable[Consumer] = (),
        shards: Mapping[str, int] | None = None,
        cluster: bool | None = None,
    ) -> None:
        """Make the collector; register it with ``registry.register(collector)``."""
        self._core = _prometheus()
        self._url = redis_url if isinstance(redis_url, str) else ""
        self._cluster = cluster
        self.client = None if isinstance(redis_url, str) else redis_url
        self.consumers = list(consumers)
        structures = [consumer.structure for consumer in self.consumers]
        self._shards = {
            **{s.name: len(s.shard_names) for s in structures if s.shard_names},
            **(shards or {}),
        }
        self.names = list(dict.fromkeys([*names, *self._shards, *(s.name for s in structures)]))
        self._kinds: dict[str, Kind] = {s.name: s.kind for s in structures}

    def describe(self) -> Iterator[Metric]:
        """The metric families, without reading Redis (for ``registry.register``)."""
        yield from self._families().values()

    def collect(self) -> Iterator[Metric]:
        """Read every queue from Redis and the Consumers' counters, for one scrape."""
        families = self._families()
        try:
            client = self._client()
            targets = [self._target(client, name) for name in self.names]
            found = [target for target in targets if target is not None]
            snapshots = _snapshot.read_targets(client, found)
            histories = _snapshot.read_histories(client, found, 2)
        except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
            logger.warning("metrics: cannot read Redis: %s", exc)
            families["redis_up"].add_metric([], 0)
        else:
            families["redis_up"].add_metric([], 1)
            for snapshot, history in zip(snapshots, histories, strict=True):
                _add_snapshot(families, snapshot)
                last_minute = history[-2]  # the last one is still counting
                for event in _history.EVENTS:
                    labels = [snapshot.name, snapshot.kind, event]
                    families["rate"].add_metric(labels, getattr(last_minute, event) / 60)
        for name, stats in self._stats_by_queue().items():
            labels = [name, self._kinds[name]]
            for counter in _COUNTERS:
                families[counter].add_metric(labels, getattr(stats, counter))
            buckets = [
                (str(bound), n)
                for bound, n in zip(HANDLER_BUCKETS, stats.handler_buckets, strict=True)
            ]
            families["handler"].add_metric(
                labels, [*buckets, ("+Inf", stats.handler_calls)], stats.handler_seconds
            )
        yield from families.values()

    def _client(self) -> _snapshot.Client:
        if self.client is None:
            self.client = _snapshot.connect(
                self._url,
                cluster=self._cluster,
                decode_responses=True,
                socket_timeout=_TIMEOUT,
                socket_connect_timeout=_TIMEOUT,
            )
        return self.client

    def _target(self, client: _snapshot.Client, name: str) -> _snapshot.Target | None:
        """What name is, to be read; None if a key has the wrong type (the others are read)."""
        kind, shards = self._kinds.get(name), self._shards.get(name, 0)
        try:
            try:
                if shards:
                    return _snapshot.sharded(client, name, shards, kind)
                return _snapshot.Target(name, _snapshot.detect_kind(client, name, kind))
            except _snapshot.UnknownNameError:  # no key at all: an empty queue
                return _snapshot.Target(name, "queue", shard_names(name, shards))
        except _snapshot.SnapshotError as exc:  # a key of the wrong type: report the others
            logger.warning("metrics: skipping %s: %s", name, exc)
            return None

    def _stats_by_queue(self) -> dict[str, ConsumerStats]:
        """The Consumers' counters, summed per structure name."""
        summed: dict[str, ConsumerStats] = defaultdict(ConsumerStats)
        for consumer in self.consumers:
            stats, total = consumer.stats, summed[consumer.structure.name]
            buckets = stats.handler_buckets  # read before the count: never above it
            total.handler_calls += stats.handler_calls
            total.handler_seconds += stats.handler_seconds
            total.handler_buckets = [
                a + b for a, b in zip(total.handler_buckets, buckets, strict=True)
            ]
            for counter in _COUNTERS:
                setattr(total, counter, getattr(total, counter) + getattr(stats, counter))
        return summed

    def _families(self) -> dict[str, Any]:
        core = self._core
        families: dict[str, Any] = {
            key: core.GaugeMetricFamily(f"aiopyrq_{key}", doc, labels=_LABELS)
            for key, doc in _GAUGES.items()
        }
        families["rate"] = core.GaugeMetricFamily(
            "aiopyrq_items_per_second", _RATE, labels=[*_LABELS, "event"]
        )
        families["redis_up"] = core.GaugeMetricFamily(
            "aiopyrq_redis_up", "1 if this scrape could read Redis, else 0.", labels=[]
        )
        for key, doc in _COUNTERS.items():
            families[key] = core.CounterMetricFamily(f"aiopyrq_consumer_{key}", doc, labels=_LABELS)
        families["handler"] = core.HistogramMetricFamily(
            "aiopyrq_consumer_handler_duration_seconds",
            "Durations of a Consumer's handler calls, in seconds.",
            labels=_LABELS,
        )
        return families


def _add_snapshot(families: dict[str, Any], snapshot: _snapshot.Snapshot) -> None:
    labels = [snapshot.name, snapshot.kind]
    if isinstance(snapshot, _snapshot.PoolSnapshot):
        families["waiting_items"].add_metric(labels, snapshot.due)
        families["in_flight_items"].add_metric(labels, snapshot.in_flight)
        families["pool_items"].add_metric(labels, snapshot.total)
        return
    families["waiting_items"].add_metric(labels, snapshot.waiting)
    families["in_flight_items"].add_metric(labels, snapshot.in_flight)
    families["delayed_items"].add_metric(labels, snapshot.delayed)
    families["oldest_in_flight_age_seconds"].add_metric(labels, snapshot.oldest_lease_age or 0)
    families["consumers"].add_metric(labels, len(snapshot.holders))
    families["dead_letters"].add_metric(labels, snapshot.dead)
