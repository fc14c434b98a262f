"""Prometheus metrics scraped over HTTP during and after a Consumer run; OpenTelemetry spans.

The exporter is prometheus_client's own HTTP server on a free loopback port, in a thread;
every figure scraped is checked against what the queue's keys hold and against the items
the handler saw. A sharded queue is reported under its own name, its shards summed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import urllib.request
from collections import Counter

import pytest
import redis.cluster
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio.cluster import RedisCluster

from aiopyrq import Consumer, Pool, Queue, ShardedQueue
from aiopyrq.metrics import QueueCollector
from aiopyrq.tracing import opentelemetry_spans
from tests.helpers import history_slot, until

pytestmark = pytest.mark.redis

BOUND = 10  # seconds: the bound of any wait


@pytest.fixture
def exporter():
    """A registry served over HTTP on a free loopback port: (registry, metrics URL)."""
    registry = CollectorRegistry()
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield registry, f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(BOUND)


async def scrape(url: str) -> dict[tuple[str, str], float]:
    """GET the metrics page (in a thread): {(sample name, queue label): value}."""

    def get() -> str:
        with urllib.request.urlopen(url, timeout=BOUND) as response:  # noqa: S310 - loopback
            return response.read().decode()

    samples = {}
    for family in text_string_to_metric_families(await asyncio.to_thread(get)):
        for sample in family.samples:
            labels = dict(sample.labels)
            key = labels.pop("queue", "")
            if "le" in labels:
                key = f"{key} le={labels.pop('le')}"
            samples[sample.name, key] = sample.value
    return samples


async def test_metrics_during_and_after_a_consumer_run(redis_server, client, name, exporter):
    """Waiting, in flight, lease age, dead letters and the runtime counters match the queue."""
    registry, url = exporter
    good, bad = [f"item-{i}" for i in range(27)], ["bad-0", "bad-1", "bad-2"]
    await Queue(name, client).add_items(good + bad)
    other = Queue(name, client)  # a consumer that goes silent holding 2 items
    assert await other.get_items(2) == good[:2]
    now, _ = await client.time()
    await client.hset(other.timeouts_hash_name, other.processing_queue_name, now - 20)
    gate, handled = asyncio.Event(), Counter()

    async def handler(item: str) -> None:
        await gate.wait()
        if item.startswith("bad"):
            raise ValueError(item)
        handled[item] += 1

    queue = Queue(name, client, max_deliveries=2)  # a bad item is rejected twice, then dead
    consumer = Consumer(
        queue,
        handler,
        batch_size=5,
        concurrency=5,
        wait=0.2,
        lease_timeout=30,
        sweep_interval=0.2,
        retry_delay=0,
    )
    registry.register(QueueCollector(redis_server.url, consumers=[consumer]))
    task = asyncio.create_task(consumer.run(handle_signals=False))
    try:
        await until(lambda: consumer.stats.delivered == 5, "5 items delivered")

        # 5 handlers waiting at the gate, and the next batch of 5 fetched ahead of them
        async def fetched_ahead() -> bool:
            return await client.llen(name) == 18  # 30 - 2 with the silent one - 10

        await until(fetched_ahead, "a batch fetched ahead")
        during = await scrape(url)
        assert during["aiopyrq_redis_up", ""] == 1
        assert during["aiopyrq_waiting_items", name] == await client.llen(name) == 18
        assert during["aiopyrq_in_flight_items", name] == 12  # 10 here, 2 with the silent one
        assert during["aiopyrq_consumers", name] == 2
        assert 20 <= during["aiopyrq_oldest_in_flight_age_seconds", name] <= 20 + BOUND
        assert during["aiopyrq_dead_letters", name] == 0
        assert during["aiopyrq_consumer_delivered_total", name] == 5
        assert during["aiopyrq_consumer_acked_total", name] == 0
        assert during["aiopyrq_consumer_dead_lettered_total", name] == 0
        assert during["aiopyrq_consumer_handler_duration_seconds_count", name] == 0

        await client.hset(other.timeouts_hash_name, other.processing_queue_name, now - 100)
        await until(lambda: consumer.stats.recovered == 2, "the silent consumer's items back")
        gate.set()

        async def done() -> bool:  # acked counts after the ack; failed before the reject
            return consumer.stats.acked == 27 and await queue.get_dead_count() == 3

        await until(done, "all done")
        after = await scrape(url)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, BOUND)

    assert handled == Counter(good)  # each good item once, the 2 recovered ones included
    await check_after_the_run(after, client, queue, bad)

    stopped = await scrape(url)  # after the run: the consumer gave its lease back
    assert stopped["aiopyrq_consumers", name] == 0
    assert stopped["aiopyrq_consumer_acked_total", name] == 27


async def check_after_the_run(after, client, queue: Queue, bad: list[str]) -> None:
    """The figures once every item is done: nothing waits or is held, the bad ones dead."""
    name = queue.name
    assert after["aiopyrq_waiting_items", name] == await client.llen(name) == 0
    assert after["aiopyrq_in_flight_items", name] == 0
    assert after["aiopyrq_dead_letters", name] == await queue.get_dead_count() == 3
    assert sorted(await queue.get_dead_items(10)) == bad
    # 28 waiting, the 2 recovered, the 3 bad ones again after their first reject
    expected = {"delivered": 33, "acked": 27, "failed": 6, "recovered": 2}
    for counter, value in expected.items():
        assert after[f"aiopyrq_consumer_{counter}_total", name] == value, counter
    count = after["aiopyrq_consumer_handler_duration_seconds_count", name]
    assert count == 33
    assert after["aiopyrq_consumer_handler_duration_seconds_sum", name] > 0
    buckets = [v for (sample, key), v in after.items() if sample.endswith("_bucket")]
    assert buckets == sorted(buckets)  # cumulative
    assert after["aiopyrq_consumer_handler_duration_seconds_bucket", f"{name} le=+Inf"] == 33


async def test_pool_and_named_queues(redis_server, client, name, exporter):
    """Names given to the collector are read by their kind: a Pool's due, in flight, total."""
    registry, url = exporter
    pool = Pool(f"{name}-p", client, ack_ttl=60)
    await pool.add_items([f"feed-{i}" for i in range(10)])
    await pool.ack_items(await pool.get_items(3))
    await pool.get_items(2)
    registry.register(QueueCollector(redis_server.url, [f"{name}-p", f"{name}-empty"]))

    samples = await scrape(url)

    assert samples["aiopyrq_waiting_items", f"{name}-p"] == await pool.get_count_to_process() == 5
    assert samples["aiopyrq_in_flight_items", f"{name}-p"] == 2
    assert samples["aiopyrq_pool_items", f"{name}-p"] == await pool.get_count() == 10
    assert samples["aiopyrq_waiting_items", f"{name}-empty"] == 0  # no key: an empty queue
    assert samples["aiopyrq_dead_letters", f"{name}-empty"] == 0


async def test_delayed_items_gauge(redis_server, client, name, exporter):
    """aiopyrq_delayed_items counts the delayed items not yet due, apart from the waiting."""
    registry, url = exporter
    queue = Queue(name, client)
    await queue.add_items(["a", "b", "c"], delay=600)
    await queue.add_item("d")
    registry.register(QueueCollector(redis_server.url, [name]))

    samples = await scrape(url)

    assert samples["aiopyrq_delayed_items", name] == await queue.get_delayed_count() == 3
    assert samples["aiopyrq_waiting_items", name] == 1


async def test_redis_down_still_serves_the_counters(exporter, name):
    """With Redis unreachable a scrape succeeds: aiopyrq_redis_up is 0, no queue gauge."""
    registry, url = exporter
    registry.register(QueueCollector("redis://127.0.0.1:1", [name]))

    samples = await scrape(url)

    assert samples["aiopyrq_redis_up", ""] == 0
    assert ("aiopyrq_waiting_items", name) not in samples


async def test_dead_lettered_counts_rejects_at_the_same_time(redis_server, client, name, exporter):
    """Two handlers failing at once send both items to the dead letters: the counter says 2."""
    registry, url = exporter
    queue = Queue(name, client, max_deliveries=1)
    await queue.add_items(["bad-0", "bad-1"])
    gate = asyncio.Event()

    async def handler(item: str) -> None:
        await gate.wait()
        raise ValueError(item)

    consumer = Consumer(queue, handler, batch_size=1, concurrency=2, wait=0.1)
    registry.register(QueueCollector(redis_server.url, consumers=[consumer]))
    task = asyncio.create_task(consumer.run(handle_signals=False))
    try:
        await until(lambda: consumer.stats.delivered == 2, "both items delivered")
        gate.set()

        async def both_dead() -> bool:
            return await queue.get_dead_count() == 2

        await until(both_dead, "both items dead")
    finally:
        consumer.stop()
        await asyncio.wait_for(task, BOUND)  # the handlers' rejects have returned

    samples = await scrape(url)
    assert samples["aiopyrq_dead_letters", name] == 2
    assert samples["aiopyrq_consumer_failed_total", name] == 2
    assert samples["aiopyrq_consumer_dead_lettered_total", name] == 2


async def sharded_figures(client, queue: ShardedQueue) -> dict[str, int]:
    """What the shards hold, summed, read from their keys."""
    figures = Counter()
    for shard in queue.shards:
        leases = await client.hkeys(shard.timeouts_hash_name)
        figures["waiting"] += await client.llen(shard.keys.queue)
        figures["in_flight"] += sum([await client.llen(lease) for lease in leases])
        figures["consumers"] += len(leases)
        figures["dead"] += await client.llen(shard.keys.dead)
    return dict(figures)


def reported(samples, name: str) -> dict[str, float]:
    """The gauges of one queue, named as sharded_figures names them."""
    return {
        "waiting": samples["aiopyrq_waiting_items", name],
        "in_flight": samples["aiopyrq_in_flight_items", name],
        "consumers": samples["aiopyrq_consumers", name],
        "dead": samples["aiopyrq_dead_letters", name],
    }


async def test_sharded_queue_summed_under_its_name(redis_server, client, name, exporter):
    """A ShardedQueue consumer's queue: gauges summed over the shards, counters, no shard label."""
    registry, url = exporter
    good, bad = [f"item-{i}" for i in range(12)], ["bad-0", "bad-1", "bad-2"]
    await ShardedQueue(name, client, shards=3).add_items(good + bad)
    gate, handled = asyncio.Event(), Counter()

    async def handler(item: str) -> None:
        await gate.wait()
        if item.startswith("bad"):
            raise ValueError(item)
        handled[item] += 1

    queue = ShardedQueue(name, client, shards=3, max_deliveries=1)
    consumer = Consumer(queue, handler, batch_size=1, concurrency=1, wait=0.2)
    registry.register(QueueCollector(redis_server.url, consumers=[consumer]))
    task = asyncio.create_task(consumer.run(handle_signals=False))
    try:
        await until(lambda: consumer.stats.delivered == 1, "an item delivered")

        async def fetched_ahead() -> bool:  # the handler waits, the next item fetched
            return await queue.get_count() == 13

        await until(fetched_ahead, "an item fetched ahead")
        during = await scrape(url)
        assert reported(during, name) == await sharded_figures(client, queue)
        assert (during["aiopyrq_waiting_items", name], during["aiopyrq_in_flight_items", name]) == (
            13,
            2,
        )
        assert not any(key.startswith(f"{name}:") for _, key in during)  # no shard reported
        gate.set()

        async def done() -> bool:
            return consumer.stats.acked == 12 and await queue.get_dead_count() == 3

        await until(done, "all done")
    finally:
        consumer.stop()
        await asyncio.wait_for(task, BOUND)

    after = await scrape(url)
    assert handled == Counter(good)
    assert reported(after, name) == await sharded_figures(client, queue)
    assert after["aiopyrq_dead_letters", name] == 3
    expected = {"delivered": 15, "acked": 12, "failed": 3, "dead_lettered": 3, "recovered": 0}
    for counter, value in expected.items():
        assert after[f"aiopyrq_consumer_{counter}_total", name] == value, counter


async def test_cluster_queue_and_sharded_name(cluster, name, exporter):
    """On a cluster (found from INFO): a Queue and a sharded queue named with shards=."""
    registry, url = exporter
    cc = RedisCluster(startup_nodes=cluster.startup_nodes, decode_responses=True)
    try:
        sharded = ShardedQueue(name, cc, shards=3, max_deliveries=1)
        await sharded.add_items([f"item-{i}" for i in range(9)])
        assert await sharded.reject_items(await sharded.get_items(4)) == 4
        await sharded.get_items(2)
        plain = Queue(f"{name}-plain", cc)
        await plain.add_items(["a", "b", "c", "d"])
        await plain.get_items(1)
        collector = QueueCollector(cluster.url, [f"{name}-plain"], shards={name: 3})
        registry.register(collector)

        samples = await scrape(url)

        assert isinstance(collector.client, redis.cluster.RedisCluster)
        assert reported(samples, name) == await sharded_figures(cc, sharded)
        assert (samples["aiopyrq_waiting_items", name], samples["aiopyrq_dead_letters", name]) == (
            3,
            4,
        )
        assert samples["aiopyrq_in_flight_items", name] == 2
        assert samples["aiopyrq_waiting_items", f"{name}-plain"] == await cc.llen(
            f"{{{name}-plain}}"
        )
        assert samples["aiopyrq_in_flight_items", f"{name}-plain"] == 1
    finally:
        await cc.aclose()


async def test_opentelemetry_spans(client, name):
    """get, handle, ack and reject become spans named after the queue; a raise is an error."""
    finished = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(finished))
    queue = Queue(name, client)
    await queue.add_items(["a", "b", "bad"])

    async def handler(item: str) -> None:
        if item == "bad":
            raise ValueError(item)

    consumer = Consumer(
        queue, handler, batch_size=3, concurrency=3, wait=0.1, spans=opentelemetry_spans(provider)
    )
    task = asyncio.create_task(consumer.run(handle_signals=False))
    try:
        await until(lambda: consumer.stats.acked == 2 and consumer.stats.failed >= 1, "handled")
    finally:
        consumer.stop()
        await asyncio.wait_for(task, BOUND)

    provider.shutdown()
    spans = finished.get_finished_spans()
    names = Counter(span.name for span in spans)
    assert names[f"get {name}"] >= 1
    assert names[f"ack {name}"] >= 1
    assert names[f"reject {name}"] >= 1
    handles = [span for span in spans if span.name == f"handle {name}"]
    assert len(handles) == consumer.stats.handler_calls >= 3
    assert sum(span.status.status_code is StatusCode.ERROR for span in handles) == (
        consumer.stats.failed
    )
    assert {span.kind for span in handles} == {SpanKind.CONSUMER}
    assert {span.attributes["messaging.destination.name"] for span in spans} == {name}


def run_python(code: str) -> str:
    """Run code in a fresh interpreter; return its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_nothing_imported_unless_enabled():
    """aiopyrq, its metrics, tracing, CLI and a Consumer import neither Prometheus nor OTel."""
    output = run_python("""
        import json, sys
        import redis, redis.asyncio

        def loaded():
            roots = {"prometheus_client", "opentelemetry"}
            return {module for module in sys.modules if module.split(".")[0] in roots}

        before = loaded()  # redis-py 8 imports OpenTelemetry itself when it is installed
        import aiopyrq, aiopyrq.cli, aiopyrq.metrics, aiopyrq.tracing
        aiopyrq.Consumer(aiopyrq.Queue.from_url("q", "redis://127.0.0.1:1"), print)
        print(json.dumps(sorted(loaded() - before)))
    """)
    assert json.loads(output) == []


def test_friendly_import_errors():
    """Without the extras, the collector and the spans say which extra to install."""
    output = run_python("""
        import sys
        sys.modules["prometheus_client"] = None  # as if not installed
        sys.modules["opentelemetry"] = None
        from aiopyrq.metrics import QueueCollector
        from aiopyrq.tracing import opentelemetry_spans

        for make in (lambda: QueueCollector("redis://127.0.0.1:1"), opentelemetry_spans):
            try:
                make()
            except ImportError as error:
                print(type(error).__name__, error)
    """)
    metrics, tracing = output.splitlines()
    assert metrics == (
        "MissingDependencyError aiopyrq.metrics needs prometheus-client: "
        "pip install 'aio-py-rq[prometheus]'"
    )
    assert tracing == (
        "MissingDependencyError aiopyrq.tracing needs OpenTelemetry: pip install 'aio-py-rq[otel]'"
    )


async def test_items_per_second_from_the_history(redis_server, client, name):
    """aiopyrq_items_per_second is each event's count of the last full minute, per second.

    The last minute's slot is written as the scripts write it, the current one by a call.
    """
    queue = Queue(name, client)
    await queue.add_items(["x"])  # this minute: still counting, not reported
    now, _ = await client.time()
    if now % 60 > 50:  # the scrape must see the same current minute
        await asyncio.sleep(61 - now % 60)
        now, _ = await client.time()
    minute = now // 60 - 1
    counts = {"a": 120, "d": 90, "k": 60, "f": 3, "r": 6, "x": 9, "w": 4}
    await client.hset(queue.keys.history, mapping=history_slot(minute, counts))
    registry = CollectorRegistry()
    registry.register(QueueCollector(redis_server.url, [name]))
    rates = {
        event: registry.get_sample_value(
            "aiopyrq_items_per_second", {"queue": name, "kind": "queue", "event": event}
        )
        for event in ("added", "delivered", "acked", "failed", "recovered", "dead")
    }
    assert rates == {
        "added": 2.0,
        "delivered": 1.5,
        "acked": 1.0,
        "failed": 0.05,
        "recovered": 0.1,
        "dead": 0.15,
    }
