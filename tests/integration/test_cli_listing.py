"""The operator's everyday commands run as a subprocess against real servers: ``ls``,
``stats`` and ``watch`` with a pattern, ``--version``, ``dead list`` when empty.

Each test runs on the standalone server and on the session's Redis Cluster (reached through
one master's URL), with names of its own, and lists only those (a pattern on its names).
Every figure printed is checked against what the library counts.
"""

from __future__ import annotations

import json
import re

import pytest
import redis.asyncio
from redis.asyncio.cluster import RedisCluster

import aiopyrq
from aiopyrq import Pool, Queue, ShardedQueue, UniqueQueue, _listing
from tests.helpers import items_named
from tests.integration.test_cli import aiopyrq as run
from tests.integration.test_cli import busy_queue, busy_sharded, failed, ok

pytestmark = pytest.mark.redis


@pytest.fixture(params=["standalone", "cluster"])
async def where(request, redis_server):
    """(URL for the command, an asyncio client) of the standalone server or the cluster."""
    if request.param == "cluster":
        cluster = request.getfixturevalue("cluster")
        client = RedisCluster(startup_nodes=cluster.startup_nodes, decode_responses=True)
        url = cluster.url
    else:
        client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
        url = redis_server.url
    try:
        yield url, client
    finally:
        await client.aclose()


async def every_kind(client, name: str):
    """A Queue, a UniqueQueue, a Pool and a ShardedQueue named NAME-..., busy; and decoys."""
    queue, _ = await busy_queue(client, f"{name}-queue")  # 10 wait, 8 held by 2, 2 dead
    unique = UniqueQueue(f"{name}-unique-q", client)
    await unique.add_items(["a", "b", "c"])
    await unique.get_items(1)
    await unique.add_items(["d", "e"], delay=600)
    pool = Pool(f"{name}-pool", client, ack_ttl=60)
    await pool.add_items(items_named(10))
    await pool.ack_items(await pool.get_items(3))
    await pool.get_items(2)
    sharded, _ = await busy_sharded(client, f"{name}-sharded")  # 18 wait, 9 held, 3 dead
    # Keys that are not structures: a string, a hash, a set named like a UniqueQueue's set
    # whose list is a string: none is listed, and none stops the listing.
    for tag in (f"{name}-decoy", f"{{{name}-decoy}}"):  # as a standalone and a cluster name
        await client.set(f"{tag}-string", "x")
        await client.hset(f"{tag}-hash", "field", "value")
        await client.set(f"{tag}-set", "not a list")
        await client.sadd(f"{tag}-set-unique", "a")
    return queue, unique, pool, sharded


async def test_ls_lists_every_kind_with_its_counts(where, name):
    """ls NAME* lists each structure once, sorted, with kind and counts (JSON and table)."""
    url, client = where
    queue, unique, pool, sharded = await every_kind(client, name)

    rows = json.loads(ok(run("ls", "--json", f"{name}*", url=url)))

    assert rows == [
        {
            "name": f"{name}-pool",
            "kind": "pool",
            "shards": 0,
            "waiting": await pool.get_count_to_process(),
            "delayed": None,
            "in_flight": 2,
            "consumers": None,
            "dead": None,
        },
        {
            "name": f"{name}-queue",
            "kind": "queue",
            "shards": 0,
            "waiting": await queue.get_count(),
            "delayed": 0,
            "in_flight": 8,
            "consumers": 2,
            "dead": await queue.get_dead_count(),
        },
        {
            "name": f"{name}-sharded",
            "kind": "queue",
            "shards": 3,
            "waiting": await sharded.get_count(),
            "delayed": 0,
            "in_flight": 9,
            "consumers": sum([await client.hlen(s.timeouts_hash_name) for s in sharded.shards]),
            "dead": await sharded.get_dead_count(),
        },
        {
            "name": f"{name}-unique-q",
            "kind": "unique",
            "shards": 0,
            "waiting": await unique.get_count(),
            "delayed": await unique.get_delayed_count(),
            "in_flight": 1,
            "consumers": 1,
            "dead": 0,
        },
    ]
    assert [row["waiting"] for row in rows] == [5, 10, 18, 2]
    table = ok(run("ls", f"{name}*", url=url)).splitlines()
    header = ["NAME", "KIND", "WAITING", "DELAYED", "IN", "FLIGHT", "CONSUMERS", "DEAD"]
    assert table[0].split() == header
    assert [line.split() for line in table[1:]] == [
        [f"{name}-pool", "Pool", "5", "-", "2", "-", "-"],
        [f"{name}-queue", "Queue", "10", "0", "8", "2", "2"],
        [
            f"{name}-sharded",
            "ShardedQueue",
            "of",
            "3",
            "Queues",
            "18",
            "0",
            "9",
            str(rows[2]["consumers"]),
            "3",
        ],
        [f"{name}-unique-q", "UniqueQueue", "2", "2", "1", "1", "0"],
    ]
    assert len({len(line) for line in table}) == 1  # aligned columns


async def test_ls_cluster_scans_every_master(cluster, name):
    """On a cluster, structures on every master are listed (SCAN on each master)."""
    client = RedisCluster(startup_nodes=cluster.startup_nodes, decode_responses=True)
    try:
        names, masters = [], set()
        for i in range(200):  # names until each master holds one (a few, as keys spread)
            names.append(f"{name}-{i}")
            masters.add(cluster.master_of(f"{{{names[-1]}}}").port)
            if len(masters) == 3 and len(names) >= 6:
                break
        assert len(masters) == 3
        for each in names:
            await Queue(each, client).add_items(["x"])

        rows = json.loads(ok(run("ls", "--json", f"{name}-*", url=cluster.url)))
    finally:
        await client.aclose()

    assert [row["name"] for row in rows] == sorted(names)
    assert {row["waiting"] for row in rows} == {1}


async def test_ls_pattern_kind_and_nothing_found(where, name):
    """A pattern and --kind narrow the list; nothing found is one clear line, exit 0."""
    url, client = where
    await every_kind(client, name)

    pools = json.loads(ok(run("ls", "--json", "--kind", "pool", f"{name}*", url=url)))
    assert [row["name"] for row in pools] == [f"{name}-pool"]
    assert [r["name"] for r in json.loads(ok(run("ls", "--json", f"{name}-?ueue", url=url)))] == [
        f"{name}-queue"
    ]
    sharded = json.loads(ok(run("ls", "--json", f"{name}-sharded:[12]", url=url)))
    assert [row["name"] for row in sharded] == [f"{name}-sharded"]  # a shard matches

    assert ok(run("ls", f"{name}-none*", url=url)) == (
        f"no queue, unique queue, pool or sharded queue matches '{name}-none*'\n"
    )
    assert ok(run("ls", "--kind", "pool", f"{name}-q*", url=url)) == (
        f"no Pool matches '{name}-q*'\n"
    )
    assert json.loads(ok(run("ls", "--json", f"{name}-none*", url=url))) == []


async def test_ls_reads_nothing_as_a_structure_that_is_part_of_one(where, name):
    """A queue whose items are all in flight or dead is listed once, its lists not at all."""
    url, client = where
    queue = Queue(name, client, max_deliveries=1)
    await queue.add_items(["a", "b"])
    await queue.reject_items(await queue.get_items(1))  # dead
    await queue.get_items(1)  # in flight: NAME has no list of its own now
    assert await client.exists(queue.keys.dead_records)  # the record of "a": no structure

    rows = json.loads(ok(run("ls", "--json", f"{name}*", url=url)))

    assert rows == [
        {
            "name": name,
            "kind": "queue",
            "shards": 0,
            "waiting": 0,
            "delayed": 0,
            "in_flight": 1,
            "consumers": 1,
            "dead": 1,
        }
    ]


async def test_ls_lists_a_queue_of_delayed_items_once(where, name):
    """A queue whose items are all delayed is a queue; its NAME-delayed is never listed."""
    url, client = where
    queue = Queue(name, client)
    await queue.add_items(["a", "b", "a"], delay=600)
    unique = UniqueQueue(f"{name}-u", client)
    await unique.add_items(["x"], delay=600)
    assert await client.exists(queue.keys.queue, unique.keys.queue) == 0  # no list

    rows = json.loads(ok(run("ls", "--json", f"*{name}*", url=url)))
    stats = json.loads(ok(run("stats", "--json", name, url=url)))

    assert [(r["name"], r["kind"], r["waiting"], r["delayed"]) for r in rows] == [
        (name, "queue", 0, 3),
        (f"{name}-u", "unique", 0, 1),
    ]
    assert [(s["kind"], s["waiting"], s["delayed"]) for s in stats] == [("queue", 0, 3)]


async def test_stats_and_watch_with_a_pattern(where, name):
    """stats and watch take a glob: each structure it matches; none matched exits 6."""
    url, client = where
    await every_kind(client, name)

    stats = json.loads(ok(run("stats", "--json", f"{name}-[pq]*", url=url)))
    assert [(s["name"], s["kind"]) for s in stats] == [
        (f"{name}-pool", "pool"),
        (f"{name}-queue", "queue"),
    ]
    assert stats[1]["waiting"] == 10
    watched = ok(run("watch", f"{name}-q*", "--interval", "0.05", "--count", "2", url=url))
    assert len(re.findall(rf"^{name}-queue \(Queue\)$", watched, re.MULTILINE)) == 2

    stderr = failed(run("stats", f"{name}-none*", url=url), 6)
    assert f"no queue or pool matches '{name}-none*'" in stderr
    assert "aiopyrq ls" in stderr


async def test_watch_shows_the_change_per_second(where, name):
    """From its second view on, watch shows each count's change per second."""
    url, client = where
    queue = Queue(name, client)
    await queue.add_items(items_named(7))
    await queue.get_items(2)

    output = ok(run("watch", name, "--interval", "0.2", "--count", "2", url=url))

    first, second = output.split("aiopyrq watch  ")[1:]
    assert "Δ/s" not in first
    rates = re.search(r"^  Δ/s \(change of each count per second, over ([0-9.]+) s\): (.*)$",
                      second, re.MULTILINE)  # fmt: skip
    assert rates, second
    assert float(rates[1]) >= 0.2
    assert rates[2] == "waiting +0.0, delayed +0.0, in flight +0.0, dead letters +0.0"


async def test_dead_list_when_empty(where, name):
    """dead list says so when there are no dead letters (a queue and a sharded queue)."""
    url, client = where
    await Queue(name, client).add_items(["x"])
    await ShardedQueue(f"{name}-s", client, shards=2).add_items(["x", "y"])

    assert ok(run("dead", "list", name, url=url)) == f"no dead letters in {name}\n"
    assert ok(run("dead", "list", f"{name}-s", url=url)) == f"no dead letters in {name}-s\n"


def test_version():
    """--version prints the package's version."""
    assert ok(run("--version")) == f"aiopyrq {aiopyrq.__version__}\n"
    assert aiopyrq.__version__ == "5.0.0"


def test_help_lists_ls():
    """--help names the command ls, and ls --help says what it lists."""
    assert re.search(r"^    ls\b", ok(run("--help")), re.MULTILINE)
    assert "found by SCAN" in " ".join(ok(run("ls", "--help")).split())


@pytest.mark.parametrize(
    "pattern",
    ["*", "?-b*", "[ab]-*", "[^a]-*", "[a-b]-c", "a\\*", "*-[0-9]", "[x", "a[]", "[^]b", "a-b"],
)
async def test_glob_matches_as_scan_does(client, name, pattern):
    """The names ls keeps for a pattern are those SCAN MATCH keeps for it on a real server."""
    names = ["a-b", "b-b", "c-b", "a-c", "a*", "ab", "[x", "x", "x-1", "x-12", "a-bc", "a]"]
    for each in names:
        await client.set(f"{name}{each}", 1)
    matches = _listing.glob(f"{name}{pattern}")

    scanned = {key async for key in client.scan_iter(match=f"{name}{pattern}", count=1000)}

    assert {f"{name}{each}" for each in names if matches(f"{name}{each}")} == scanned


async def test_pools_larger_than_a_page(where, name):
    """Pools with more items not due than one read takes are counted in full, each its own."""
    url, client = where
    big = Pool(f"{name}-big", client, ack_ttl=600)
    await big.add_items(items_named(2500))
    assert len(await big.get_items(1200)) == 1200  # in flight
    await big.ack_items(await big.get_items(300))  # acked: scheduled, not due
    small = Pool(f"{name}-small", client, ack_ttl=600)
    await small.add_items(items_named(5))
    await small.get_items(2)

    rows = json.loads(ok(run("ls", "--json", f"{name}*", url=url)))
    stats = json.loads(ok(run("stats", "--json", f"{name}*", url=url)))

    assert [(r["name"], r["waiting"], r["in_flight"]) for r in rows] == [
        (f"{name}-big", 1000, 1200),
        (f"{name}-small", 3, 2),
    ]
    assert [(s["total"], s["due"], s["in_flight"], s["scheduled"]) for s in stats] == [
        (2500, await big.get_count_to_process(), 1200, 300),
        (5, 3, 2, 0),
    ]


async def test_stats_over_seconds(where, name):
    """stats --over reads twice and shows each count's change per second (none here)."""
    url, client = where
    queue = Queue(name, client)
    await queue.add_items(items_named(4))

    [data] = json.loads(ok(run("stats", "--json", "--over", "0.2", name, url=url)))
    text = ok(run("stats", "--over", "0.2", name, url=url))

    assert data["waiting"] == 4
    assert data["per_second"] == {"waiting": 0.0, "delayed": 0.0, "in_flight": 0.0, "dead": 0.0}
    assert data["over_seconds"] >= 0.2
    assert re.search(r"^  waiting +4 \(\+0\)", text, re.MULTILINE)
    assert "  Δ/s (change of each count per second, over 0." in text
    plain = json.loads(ok(run("stats", "--json", name, url=url)))[0]
    assert "per_second" not in plain


async def test_ls_lists_no_inner_key(where, name):
    """A Pool's wake-up token and a processing list left without their structure: no row."""
    url, client = where
    pool = Pool(f"{name}-p", client)
    await pool.add_items(["x"])  # leaves the wake-up token NAME-p-wakeup for a minute
    await client.delete(pool.keys.queue)
    orphan = Queue(f"{name}-q", client)
    await orphan.add_items(["y"])
    await orphan.get_items(1)
    await client.delete(orphan.timeouts_hash_name)  # its processing list is left alone
    assert await client.exists(pool.keys.wakeup, orphan.processing_queue_name) == 2

    # *NAME*: also the names a cluster gives keys with a hash tag, {NAME-p}-wakeup ...
    assert json.loads(ok(run("ls", "--json", f"*{name}*", url=url))) == []


async def test_ls_lists_no_key_of_the_limits(where, name):
    """The keys of a queue's limits, left without the queue, are no structure: no row."""
    url, client = where
    queue = Queue(f"{name}-l", client, max_in_flight=2, rate_limit=(5, 60))
    await queue.add_items(["a", "b", "c"])
    taken = await queue.get_items(3)
    await queue.ack_item(taken[0])  # a token in NAME-l-in-flight-freed, one item still held
    await client.delete(queue.keys.queue, queue.keys.timeouts, queue.processing_queue_name)
    assert await client.exists(*queue.keys.limits) == 3  # every key of them
    assert json.loads(ok(run("ls", "--json", f"*{name}*", url=url))) == []


async def test_ls_lists_no_history_as_a_structure(where, name):
    """A history is no structure: one left alone (its items all acked) gives no row, and a
    busy queue's is not listed beside it."""
    url, client = where
    done = Queue(f"{name}-done", client)
    await done.add_items(["x"])
    await done.ack_items(await done.get_items(1))
    busy = Queue(f"{name}-busy", client)
    await busy.add_items(["y"])
    assert await client.exists(done.keys.history, busy.keys.history) == 2

    rows = json.loads(ok(run("ls", "--json", f"*{name}*", url=url)))

    assert [row["name"] for row in rows] == [f"{name}-busy"]
