"""The contract of Queue and UniqueQueue, run against both where they behave the same.

The tests that use only the API every queue shares (``make_any``) run on a ShardedQueue too.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket

import pytest
import redis
import redis.asyncio
from redis.asyncio import ConnectionPool

from aiopyrq import DeadLetter, Queue, ShardedQueue, UniqueQueue
from aiopyrq._dead import CUT, LEASE_EXPIRED, REASON_LIMIT
from tests.helpers import data_keys, events, history_totals, server_now

pytestmark = [pytest.mark.redis, pytest.mark.all_deployments]

EXPIRED = 7201  # seconds: older than the default timeout of 7200


@pytest.fixture(params=[Queue, UniqueQueue], ids=["Queue", "UniqueQueue"])
def cls(request):
    """The class under test."""
    return request.param


@pytest.fixture
def make(cls, client, name):
    """Make a consumer of the queue ``name``: each call is one more consumer."""

    def make(using=None, **options):
        return cls(name, using or client, **options)

    return make


def sharded(name, client, **options):
    """A ShardedQueue of one shard: its order is a Queue's; test_sharded spreads items."""
    return ShardedQueue(name, client, shards=1, **options)


@pytest.fixture(params=[Queue, UniqueQueue, sharded], ids=["Queue", "UniqueQueue", "ShardedQueue"])
def any_cls(request):
    """A class of the shared API under test."""
    return request.param


@pytest.fixture
def make_any(any_cls, client, name):
    """Make a consumer of the queue ``name``, of any class: for tests of the shared API."""

    def make(using=None, **options):
        return any_cls(name, using or client, **options)

    return make


@pytest.fixture
def queue(client, name):
    """A plain Queue, for what only Queue does (LREM counts, duplicates waiting)."""
    return Queue(name, client)


async def waiting(client, queue):
    """The waiting items, in the order they will be taken."""
    return list(reversed(await client.lrange(queue.name, 0, -1)))


async def held(client, queue):
    """The items in the consumer's processing list, oldest taken first."""
    return list(reversed(await client.lrange(queue.processing_queue_name, 0, -1)))


async def state(client, name):
    """Every key of the queue ``name`` with its content."""
    result = {}
    for key in data_keys(await client.keys(f"{name}*")):
        kind = await client.type(key)
        if kind == "list":
            result[key] = await client.lrange(key, 0, -1)
        elif kind == "hash":
            result[key] = await client.hgetall(key)
        else:
            result[key] = await client.smembers(key)
    return result


async def set_lease(client, queue, age):
    """Pretend the consumer's last get was ``age`` seconds ago."""
    await client.hset(
        queue.timeouts_hash_name, queue.processing_queue_name, await server_now(client) - age
    )


async def hold_twice(queue):
    """Make the consumer hold ``a`` twice and ``b`` once."""
    await queue.add_item("a")
    await queue.get_items(1)
    await queue.add_items(["a", "b"])
    assert await queue.get_items(2) == ["a", "b"]


# Constructors and attributes


async def test_constructor_with_client(make, client):
    """A queue made from a redis.asyncio client uses it."""
    q = make()
    await q.add_item("a")
    assert q.redis is client
    assert await q.get_items(1) == ["a"]


@pytest.mark.standalone_only
async def test_constructor_with_connection_pool(cls, redis_server, name):
    """A queue made from a ConnectionPool (the spec's example) works."""
    pool = ConnectionPool.from_url(redis_server.url, encoding="utf-8", decode_responses=True)
    try:
        q = cls(name, pool)
        await q.add_items(["a", "b"])
        assert await q.get_items(5) == ["a", "b"]
        await q.ack_items(["a", "b"])
        assert await q.get_count() == 0
    finally:
        await pool.disconnect()


async def connections_named(client, client_name):
    """How many connections of the server carry this client name."""
    return sum(1 for entry in await client.client_list() if entry["name"] == client_name)


async def wait_until_closed(client, client_name):
    """Wait (at most 2 s) until no connection carries this client name; return how many do."""
    for _ in range(100):
        if await connections_named(client, client_name) == 0:
            return 0
        await asyncio.sleep(0.02)
    return await connections_named(client, client_name)


@pytest.mark.standalone_only
async def test_from_url_and_aclose(cls, redis_server, client, name):
    """from_url opens a decoding client of its own that aclose closes."""
    q = cls.from_url(name, f"{redis_server.url}?client_name={name}")
    await q.add_item("a")
    assert await q.get_items(1) == ["a"]
    assert await connections_named(client, name) == 1
    await q.aclose()
    assert await wait_until_closed(client, name) == 0


@pytest.mark.standalone_only
async def test_from_url_async_with(cls, redis_server, client, name):
    """``async with`` a queue from from_url closes its client on exit."""
    async with cls.from_url(name, f"{redis_server.url}?client_name={name}") as q:
        await q.add_item("a")
        assert await q.get_count() == 1
    assert await wait_until_closed(client, name) == 0


async def test_aclose_leaves_a_client_passed_in_open(make, client):
    """aclose does not close a client the caller passed in."""
    await make().aclose()
    assert await client.ping()


async def test_attribute_names(make, name):
    """The key names are those of the original library."""
    q = make()
    assert q.name == name
    assert q.processing_queue_name == f"{name}-processing-{q.client_id}"
    assert q.timeouts_hash_name == f"{name}-timeouts"
    assert q.retry_count_name == f"{name}-retry-count"
    assert q.retry_timeout_name == f"{name}-retry-timeout"


def test_unknown_keyword_refused(make):
    """An unknown keyword raises TypeError."""
    with pytest.raises(TypeError):
        make(max_retries=3)


@pytest.mark.parametrize("bad", ["", None, 1, b"queue"])
def test_bad_name_refused(cls, client, bad):
    """An empty or non-str name is refused."""
    with pytest.raises(ValueError if bad == "" else TypeError):
        cls(bad, client)


OTHER_TWIN = redis.Redis  # unasync: OTHER_TWIN = redis.asyncio.Redis
"""The client class of the other twin (redis-py's sync or asyncio API), refused here."""


@pytest.mark.standalone_only
def test_wrong_redis_type_refused(cls, redis_server, name):
    """Anything but a client of this twin (redis.asyncio here) or ConnectionPool is refused."""
    other_twin = OTHER_TWIN.from_url(redis_server.url)  # it never connects: nothing to close
    for bad in (None, redis_server.url, other_twin):
        with pytest.raises(TypeError):
            cls(name, bad)


# Original defect 3: consumers made in the same second shared one processing list.


def id_second(queue):
    """The second in a consumer id ``host[pid][seconds-random]``."""
    prefix = re.escape(f"{socket.gethostname()}[{os.getpid()}][")
    match = re.fullmatch(prefix + r"(\d+)-[0-9a-f]{8}\]", queue.client_id)
    assert match, queue.client_id
    return match.group(1)


def same_second_pair(make):
    """Two consumers made in the same second (made again if a second ticks between)."""
    for _ in range(3):
        first, second = make(), make()
        if id_second(first) == id_second(second):
            return first, second
    pytest.fail("no two consumers made within one second")


def test_consumers_of_one_second_have_their_own_ids(make):
    """Two objects made in the same second get distinct ids, both ``host[pid][…``."""
    first, second = same_second_pair(make)
    assert first.client_id != second.client_id
    assert first.processing_queue_name != second.processing_queue_name


async def test_re_enqueue_of_one_consumer_spares_its_twin(make, client):
    """Recovering an expired consumer leaves the items of one made in the same second."""
    dead, live = same_second_pair(make)
    await dead.add_items(["a", "b", "c"])
    assert await dead.get_items(2) == ["a", "b"]
    assert await live.get_items(1) == ["c"]
    await set_lease(client, dead, EXPIRED)
    assert await live.re_enqueue_timeout_items() == 2
    assert await held(client, live) == ["c"]
    await live.ack_item("c")
    assert await waiting(client, live) == ["a", "b"]


# Counting, adding and getting


async def test_get_count(make_any):
    """get_count counts the waiting items, not those taken."""
    q = make_any()
    assert await q.get_count() == 0
    await q.add_items(["a", "b", "c"])
    assert await q.get_count() == 3
    await q.get_items(2)
    assert await q.get_count() == 1


async def test_add_item_then_get(make_any):
    """An added item is the one get_items returns."""
    q = make_any()
    await q.add_item("a")
    assert await q.get_items(1) == ["a"]


async def test_fifo_across_add_calls(make_any):
    """Items come out in the order they were added, across several add calls."""
    q = make_any()
    await q.add_item("a")
    await q.add_items(["b", "c"])
    await q.add_item("d")
    await q.add_items(["e"])
    assert await q.get_items(2) == ["a", "b"]
    assert await q.get_items(10) == ["c", "d", "e"]


async def test_get_more_than_waiting(make_any):
    """Asking for more items than wait returns those that wait."""
    q = make_any()
    await q.add_items(["a", "b"])
    assert await q.get_items(100) == ["a", "b"]
    assert await q.get_items(100) == []


async def test_get_zero_writes_nothing(make_any, client, name):
    """get_items(0) returns [] and creates no processing list or lease."""
    q = make_any()
    await q.add_item("a")
    before = await state(client, name)
    assert await q.get_items(0) == []
    assert await state(client, name) == before


async def test_get_on_empty_queue_creates_nothing(make_any, client, name):
    """get_items on an empty queue returns [] and writes no key."""
    assert await make_any().get_items(5) == []
    assert data_keys(await client.keys(f"{name}*")) == []


async def test_get_moves_items_and_stamps_lease(make, client):
    """get_items moves items to the processing list and stamps the lease with server time."""
    q = make()
    await q.add_items(["a", "b", "c"])
    before = await server_now(client)
    await q.get_items(2)
    stamp = int(await client.hget(q.timeouts_hash_name, q.processing_queue_name))
    assert before <= stamp <= await server_now(client)
    assert await held(client, q) == ["a", "b"]
    assert await waiting(client, q) == ["c"]


# Acknowledging


async def test_ack_last_item_removes_processing_list_and_lease(make, client):
    """Acking every held item deletes the processing list and its timeouts entry."""
    q = make()
    await q.add_items(["a", "b"])
    await q.get_items(2)
    await q.ack_item("a")
    assert await held(client, q) == ["b"]
    assert await client.hexists(q.timeouts_hash_name, q.processing_queue_name)
    await q.ack_items(["b"])
    assert not await client.exists(q.processing_queue_name)
    assert not await client.exists(q.timeouts_hash_name)


async def test_ack_of_item_not_held_changes_nothing(make_any, client, name):
    """Acking an item the consumer does not hold changes no key."""
    q = make_any()
    await q.add_items(["a", "b"])
    await q.get_items(1)
    before = await state(client, name)
    await q.ack_items(["b", "x"])
    assert await state(client, name) == before


async def test_ack_duplicates_in_one_batch(make, client):
    """Each entry of a batch acks one held occurrence; extra entries do nothing."""
    q = make()
    await hold_twice(q)
    await q.ack_items(["a", "a", "a"])
    assert await held(client, q) == ["b"]
    await q.ack_items(["b", "b"])
    assert not await client.exists(q.processing_queue_name, q.timeouts_hash_name)


# Rejecting


async def test_reject_items_go_first_in_batch_order(make_any):
    """Rejected items are taken next, in the batch's order, before older waiting items."""
    q = make_any()
    await q.add_items(["a", "b", "c", "d", "e"])
    assert await q.get_items(3) == ["a", "b", "c"]
    await q.reject_items(["c", "a", "b"])
    assert await q.get_items(10) == ["c", "a", "b", "d", "e"]


async def test_reject_item_and_release(make, client):
    """reject_item puts one item back; the last one held removes the processing list."""
    q = make()
    await q.add_items(["a", "b"])
    await q.get_items(1)
    await q.reject_item("a")
    assert await waiting(client, q) == ["a", "b"]
    assert not await client.exists(q.processing_queue_name, q.timeouts_hash_name)


async def test_reject_of_item_not_held_queues_nothing(make_any, client, name):
    """Rejecting an item the consumer does not hold changes no key."""
    q = make_any()
    await q.add_items(["a", "b"])
    await q.get_items(1)
    before = await state(client, name)
    await q.reject_items(["b", "x"])
    assert await state(client, name) == before


async def test_reject_twice_queues_once(make, client):
    """Rejecting the same held item twice puts it back once."""
    q = make()
    await q.add_item("a")
    await q.get_items(1)
    await q.reject_item("a")
    await q.reject_item("a")
    assert await waiting(client, q) == ["a"]


async def test_queue_reject_duplicates_in_batch(queue, client):
    """Queue: a batch naming an item twice puts back both occurrences held, no more."""
    await hold_twice(queue)
    await queue.reject_items(["a", "a", "a"])
    assert await waiting(client, queue) == ["a", "a"]
    assert await held(client, queue) == ["b"]


# Queue.delete_item(s): LREM semantics per item


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, ["b", "c"]),
        (1, ["a", "b", "a", "c"]),
        (2, ["a", "b", "c"]),
        (-1, ["b", "a", "c", "a"]),
        (-2, ["b", "c", "a"]),
    ],
)
async def test_delete_item_count_as_lrem(queue, client, count, expected):
    """count 0 deletes all, > 0 the newest first, < 0 the oldest first."""
    await queue.add_items(["a", "b", "a", "c", "a"])
    await queue.delete_item("a", count)
    assert await waiting(client, queue) == expected


@pytest.mark.parametrize(("count", "expected"), [(0, ["b", "c"]), (1, ["a", "b", "c"])])
async def test_delete_items_duplicates_in_batch(queue, client, count, expected):
    """An item named twice in a batch deletes as two LREMs would."""
    await queue.add_items(["a", "b", "a", "c", "a"])
    await queue.delete_items(["a", "a", "x"], count)
    assert await waiting(client, queue) == expected


@pytest.mark.parametrize("count", [0, 3, -3])
async def test_delete_items_large_batch_matches_lrem(queue, client, name, count):
    """A batch of many distinct items leaves the list exactly as one LREM per entry."""
    values = [f"v{i % 40}" for i in range(400)]
    batch = [f"v{i}" for i in range(0, 40, 2)] + ["v0", "v2", "missing"]
    await queue.add_items(values)
    reference = f"{name}-reference"
    await client.lpush(reference, *values)
    for item in batch:
        await client.lrem(reference, count, item)
    await queue.delete_items(batch, count)
    assert await client.lrange(name, 0, -1) == await client.lrange(reference, 0, -1)


async def test_delete_items_leaves_processing_list(queue, client):
    """delete_items deletes waiting items only, not those held."""
    await queue.add_items(["a", "a"])
    await queue.get_items(1)
    await queue.delete_items(["a"])
    assert await queue.get_count() == 0
    assert await held(client, queue) == ["a"]


# Recovery: re_enqueue_* and drop_*


async def test_re_enqueue_timeout_items(make, client):
    """Expired consumers' items go back first in line; a fresh consumer keeps its own."""
    dead, live = make(), make()
    await dead.add_items(["a", "b", "c", "d"])
    await dead.get_items(2)
    await live.get_items(1)
    await set_lease(client, dead, EXPIRED)
    assert await live.re_enqueue_timeout_items() == 2
    assert await waiting(client, live) == ["a", "b", "d"]
    assert not await client.exists(dead.processing_queue_name)
    assert await client.hkeys(live.timeouts_hash_name) == [live.processing_queue_name]
    assert await held(client, live) == ["c"]


async def test_re_enqueue_timeout_argument(make, client):
    """A lease younger than ``timeout`` seconds is kept, an older one recovered."""
    q = make()
    await q.add_items(["a", "b"])
    await q.get_items(2)
    await set_lease(client, q, 100)
    assert await q.re_enqueue_timeout_items(200) == 0
    assert await held(client, q) == ["a", "b"]
    assert await q.re_enqueue_timeout_items(50) == 2
    assert await waiting(client, q) == ["a", "b"]


async def test_re_enqueue_timeout_with_nothing_to_do(make_any):
    """Without processing lists, re_enqueue_timeout_items returns 0."""
    assert await make_any().re_enqueue_timeout_items() == 0


async def test_drop_timeout_items(make, client):
    """Expired consumers' items are deleted; a fresh consumer keeps its own."""
    dead, live = make(), make()
    await dead.add_items(["a", "b", "c", "d"])
    await dead.get_items(2)
    await live.get_items(1)
    await set_lease(client, dead, EXPIRED)
    assert await live.drop_timeout_items() == 2
    assert await waiting(client, live) == ["d"]
    assert not await client.exists(dead.processing_queue_name)
    assert await client.hkeys(live.timeouts_hash_name) == [live.processing_queue_name]
    assert await held(client, live) == ["c"]


async def three_consumers(make, client):
    """Consumers holding [1, 2], [3, 4], [5, 6], oldest lease first; 7 and 8 wait."""
    consumers = [make(), make(), make()]
    await consumers[0].add_items([str(i) for i in range(1, 9)])
    for age, consumer in zip((30, 20, 10), consumers, strict=True):
        await consumer.get_items(2)
        await set_lease(client, consumer, age)
    return consumers


async def test_re_enqueue_all_items_oldest_first(make, client):
    """Every consumer's items go back, the oldest taken first, before the waiting ones."""
    consumers = await three_consumers(make, client)
    assert await consumers[2].re_enqueue_all_items() == 6
    assert await waiting(client, consumers[0]) == [str(i) for i in range(1, 9)]
    assert not await client.exists(*(c.processing_queue_name for c in consumers))
    assert not await client.exists(consumers[0].timeouts_hash_name)


async def test_drop_all_items(make, client):
    """Every consumer's items are deleted; the waiting items stay."""
    consumers = await three_consumers(make, client)
    assert await consumers[0].drop_all_items() == 6
    assert await waiting(client, consumers[0]) == ["7", "8"]
    assert not await client.exists(*(c.processing_queue_name for c in consumers))
    assert not await client.exists(consumers[0].timeouts_hash_name)


async def test_negative_timeout_refused(make_any):
    """A negative timeout raises ValueError."""
    with pytest.raises(ValueError, match="timeout"):
        await make_any().re_enqueue_timeout_items(-1)
    with pytest.raises(ValueError, match="timeout"):
        await make_any().drop_timeout_items(-1)


# can_rollback_item / reset_blocked_item. Original defect 2: the README's max_retry and
# max_timeout raised KeyError; both they and the original names must work.

ROLLBACK_OPTIONS = [("max_retry", "max_timeout"), ("max_retry_rollback", "max_timeout_in_queue")]


async def server_minute(client):
    """The server's clock, in unix minutes."""
    return await server_now(client) // 60


@pytest.mark.parametrize(("retry", "timeout"), ROLLBACK_OPTIONS)
async def test_rollback_refused_after_retries_and_minutes(make, client, retry, timeout):
    """An item is refused once counted more than max_retry times over max_timeout minutes."""
    q = make(**{retry: 2, timeout: 10})
    assert [await q.can_rollback_item("a") for _ in range(4)] == [True] * 4
    await client.hset(q.retry_timeout_name, "a", await server_minute(client) - 11)
    assert not await q.can_rollback_item("a")
    assert await client.hget(q.retry_count_name, "a") == "5"


@pytest.mark.parametrize(("retry", "timeout"), ROLLBACK_OPTIONS)
async def test_rollback_allowed_within_window(make, client, retry, timeout):
    """Many rollbacks within max_timeout minutes are allowed."""
    q = make(**{retry: 1, timeout: 10})
    await q.can_rollback_item("a")
    await client.hset(q.retry_timeout_name, "a", await server_minute(client) - 9)
    assert await q.can_rollback_item("a")
    assert await q.can_rollback_item("a")


async def test_rollback_allowed_under_max_retry(make, client):
    """An old item counted at most max_retry times is allowed."""
    q = make(max_retry=3, max_timeout=1)
    await q.can_rollback_item("a")
    await client.hset(q.retry_timeout_name, "a", await server_minute(client) - 100)
    assert [await q.can_rollback_item("a") for _ in range(2)] == [True, True]
    assert not await q.can_rollback_item("a")


async def test_rollback_counts_per_item(make, client):
    """Each item has its own counter and first minute, stamped with the server's minute."""
    q = make(max_retry=1, max_timeout=1)
    before = await server_minute(client)
    await q.can_rollback_item("a")
    await q.can_rollback_item("a")
    await q.can_rollback_item("b")
    assert await client.hgetall(q.retry_count_name) == {"a": "2", "b": "1"}
    first = int(await client.hget(q.retry_timeout_name, "a"))
    assert before <= first <= await server_minute(client)


async def test_reset_blocked_item(make, client):
    """reset_blocked_item forgets the item's counter and first minute."""
    q = make(max_retry=0, max_timeout=0)
    await q.can_rollback_item("a")
    await client.hset(q.retry_timeout_name, "a", await server_minute(client) - 5)
    assert not await q.can_rollback_item("a")
    await q.reset_blocked_item("a")
    assert not await client.exists(q.retry_count_name, q.retry_timeout_name)
    assert await q.can_rollback_item("a")
    assert await client.hget(q.retry_count_name, "a") == "1"


async def test_reset_of_unknown_item_writes_nothing(make, client, name):
    """reset_blocked_item of an item never counted writes no key."""
    await make().reset_blocked_item("a")
    assert data_keys(await client.keys(f"{name}*")) == []


@pytest.mark.parametrize("options", [{}, {"max_retry": 1}, {"max_timeout_in_queue": 1}])
async def test_rollback_without_options_raises(make, options):
    """can_rollback_item without both options raises ValueError."""
    with pytest.raises(ValueError, match="max_retry"):
        await make(**options).can_rollback_item("a")


@pytest.mark.parametrize(
    "options",
    [
        {"max_retry": 1, "max_retry_rollback": 1},
        {"max_timeout": 1, "max_timeout_in_queue": 1},
    ],
)
def test_option_and_alias_together_refused(make, options):
    """Giving an option and its alias raises TypeError."""
    with pytest.raises(TypeError, match="alias"):
        make(**options)


# Items round-trip exactly


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("emoji 😀🎉", "emoji 😀🎉"),
        ("漢字とかな", "漢字とかな"),
        ("", ""),
        (" spaced\nline\t", " spaced\nline\t"),
        ("007", "007"),
        ("x" * 2**20, "x" * 2**20),
        (42, "42"),
        (-7, "-7"),
        (1.5, "1.5"),
    ],
    ids=["emoji", "cjk", "empty", "whitespace", "leading-zeros", "1MB", "int", "negative", "float"],
)
async def test_item_round_trip(make_any, item, expected):
    """An item comes back exactly (numbers as str) through get, reject and ack."""
    q = make_any()
    await q.add_item(item)
    assert await q.get_items(1) == [expected]
    await q.reject_item(expected)
    assert await q.get_items(1) == [expected]
    await q.ack_items([item])
    assert await q.get_count() == 0
    assert await q.release() == 0  # acked as given, not only as it came back


async def test_bytes_round_trip_with_raw_client(make, raw_client):
    """Non-UTF-8 bytes come back as the same bytes from a client that does not decode."""
    q = make(raw_client)
    await q.add_items([b"\xff\x00", b"\x80"])
    assert await q.get_items(1) == [b"\xff\x00"]
    await q.reject_items([b"\xff\x00"])
    assert await q.get_items(2) == [b"\xff\x00", b"\x80"]
    await q.ack_items([b"\xff\x00", b"\x80"])
    assert not await raw_client.exists(q.processing_queue_name)


# Bad input raises before anything is written

BAD_ITEMS = [None, {"a": 1}, ["a"], True]
SINGLE_CALLS = ["add_item", "ack_item", "reject_item", "delete_item"]
BATCH_CALLS = ["add_items", "ack_items", "reject_items", "delete_items"]


async def prepared(make):
    """A queue with an item held and one waiting."""
    q = make()
    await q.add_items(["a", "b"])
    await q.get_items(1)
    return q


@pytest.mark.parametrize("method", SINGLE_CALLS)
@pytest.mark.parametrize("bad", BAD_ITEMS, ids=["None", "dict", "list", "bool"])
async def test_bad_item_refused(make_any, client, name, method, bad):
    """An item of the wrong type raises TypeError and writes nothing."""
    q = await prepared(make_any)
    before = await state(client, name)
    with pytest.raises(TypeError):
        await getattr(q, method)(bad)
    assert await state(client, name) == before


@pytest.mark.parametrize("method", BATCH_CALLS)
@pytest.mark.parametrize("items", ["ab", b"ab", 5, None])
async def test_items_not_a_list_refused(make_any, client, name, method, items):
    """A str, bytes or non-iterable passed as ``items`` raises TypeError and writes nothing."""
    q = await prepared(make_any)
    before = await state(client, name)
    with pytest.raises(TypeError):
        await getattr(q, method)(items)
    assert await state(client, name) == before


@pytest.mark.parametrize("method", BATCH_CALLS)
async def test_batch_with_last_item_bad_writes_nothing(make_any, client, name, method):
    """A batch whose last item is bad writes none of the good ones."""
    q = await prepared(make_any)
    before = await state(client, name)
    with pytest.raises(TypeError):
        await getattr(q, method)(["a", "b", "c", None])
    assert await state(client, name) == before


@pytest.mark.parametrize("method", BATCH_CALLS)
async def test_empty_batch_is_a_no_op(make_any, client, name, method):
    """An empty batch writes no key."""
    await getattr(make_any(), method)([])
    await getattr(make_any(), method)(iter(()))
    assert data_keys(await client.keys(f"{name}*")) == []


async def test_negative_count_refused(make_any, client, name):
    """get_items with a negative count raises ValueError and writes nothing."""
    q = await prepared(make_any)
    before = await state(client, name)
    with pytest.raises(ValueError, match="count"):
        await q.get_items(-1)
    assert await state(client, name) == before


@pytest.mark.parametrize("count", [1.0, "2", None, True])
async def test_non_int_count_refused(make_any, client, name, count):
    """get_items with a count that is not an int raises TypeError and writes nothing."""
    q = await prepared(make_any)
    before = await state(client, name)
    with pytest.raises(TypeError):
        await q.get_items(count)
    assert await state(client, name) == before


@pytest.mark.parametrize("count", [1.0, "2", None])
async def test_queue_delete_non_int_count_refused(queue, count):
    """Queue.delete_items with a count that is not an int raises TypeError."""
    await queue.add_items(["a", "a"])
    with pytest.raises(TypeError):
        await queue.delete_items(["a"], count)
    assert await queue.get_count() == 2


# Original defect 5: one command per batch, linear cost


SENTINEL = "aiopyrq-test-sentinel"


async def commands_sent(redis_server, client, action):
    """Run ``action`` and return the commands that clients (not scripts) sent meanwhile.

    MONITOR lists every command the server runs; those run by a script are marked ``lua``.
    """
    watcher = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
    await client.ping()  # the ECHO below finds a connection ready: no handshake in the list
    try:
        async with watcher.monitor() as monitor:
            await action()
            await client.echo(SENTINEL)
            sent = []
            for _ in range(100_000):
                entry = await monitor.next_command()
                if entry["command"] == f"ECHO {SENTINEL}":
                    break
                if entry["client_type"] != "lua":
                    sent.append(entry["command"].split(" ", 1)[0].upper())
            return sent
    finally:
        await watcher.aclose()


BATCH = [f"item-{i}" for i in range(1000)]


@pytest.mark.standalone_only
@pytest.mark.parametrize("method", BATCH_CALLS)
async def test_batch_of_1000_is_one_command(make, redis_server, client, method):
    """A batch call of 1,000 items sends exactly one command to Redis."""
    q = make()
    await q.add_items(BATCH)
    await q.get_items(len(BATCH) // 2)
    await getattr(q, method)(["warm-up"])  # loads the script
    sent = await commands_sent(redis_server, client, lambda: getattr(q, method)(BATCH))
    assert sent == ["EVALSHA"]


async def script_usec(client, action):
    """Run ``action`` and return the server's time spent in EVALSHA meanwhile, in µs."""

    async def usec():
        stats = await client.info("commandstats")
        return stats.get("cmdstat_evalsha", {}).get("usec", 0)

    before = await usec()
    await action()
    return await usec() - before


async def ack_cost(make, client, size):
    """The best of 3 server times to ack ``size`` held items in reverse order."""
    q = make()
    items = [f"item-{i}" for i in range(size)]
    costs = []
    for _ in range(3):
        await q.add_items(items)
        taken = await q.get_items(size)
        costs.append(await script_usec(client, lambda t=taken: q.ack_items(reversed(t))))
        assert not await client.exists(q.processing_queue_name)
    return min(costs)


@pytest.mark.standalone_only
async def test_ack_items_cost_is_not_quadratic(make, client):
    """Acking 10x more held items (reversed) costs well under 100x (quadratic) the time."""
    await make().ack_items(["warm-up"])
    small = await ack_cost(make, client, 1_000)
    large = await ack_cost(make, client, 10_000)
    assert large < 40 * max(small, 1)


async def delete_cost(make, client, size):
    """The best of 3 server times to delete half of ``size`` distinct waiting items."""
    q = make()
    items = [f"item-{i}" for i in range(size)]
    costs = []
    for _ in range(3):
        await q.add_items(items)
        costs.append(await script_usec(client, lambda: q.delete_items(items[::-2])))
        assert await waiting(client, q) == items[::2]
        await q.get_items(size)
        await q.ack_items(items[::2])
    return min(costs)


@pytest.mark.standalone_only
async def test_delete_items_cost_is_not_quadratic(make, client):
    """Deleting 10x more items from a 10x longer queue costs well under 100x the time."""
    await make().delete_items(["warm-up"])
    small = await delete_cost(make, client, 1_000)
    large = await delete_cost(make, client, 10_000)
    assert large < 40 * max(small, 1)


# Scripts forgotten by Redis (SCRIPT FLUSH, failover) are loaded again


@pytest.mark.parametrize(
    "options",
    [{}, {"synced_slaves_enabled": True, "synced_slaves_count": 0}],
    ids=["single", "pipeline"],
)
async def test_script_flush_between_calls(make, client, options):
    """Every call works after SCRIPT FLUSH, one call or several in a pipeline."""
    q = make(max_retry=1, max_timeout=1, **options)
    other = make(**options)
    steps = [
        (lambda: q.add_items(["a", "b", "c", "d"]), None),
        (lambda: q.get_items(2), ["a", "b"]),
        (lambda: q.reject_items(["b"]), 0),  # none dead-lettered
        (lambda: q.ack_items(["a"]), None),
        (lambda: other.get_items(2), ["b", "c"]),
        (lambda: set_lease(client, other, 20), None),
        (lambda: q.get_items(1), ["d"]),
        (q.re_enqueue_all_items, 3),
        (lambda: q.re_enqueue_timeout_items(0), 0),
        (lambda: q.get_items(1), ["b"]),
        (q.drop_all_items, 1),
        (lambda: q.delete_items(["x"]), None),
        (lambda: q.can_rollback_item("a"), True),
        (q.get_count, 2),
    ]
    for step, expected in steps:
        await client.script_flush()
        assert await step() == expected
    assert await waiting(client, q) == ["c", "d"]


# --- Dead letters that say why ---


def consumer_of(queue):
    """The consumer id a queue's rejects record (a ShardedQueue's: its shard's)."""
    return queue.shards[0].client_id if isinstance(queue, ShardedQueue) else queue.client_id


async def records_keys(client, name):
    """The dead-letter records hashes of the structure ``name`` (and of its shards)."""
    return [key for key in await client.keys(f"*{name}*") if key.endswith("-dead-records")]


async def test_reject_records_why_when_and_by_whom(make_any, client):
    """An item rejected into the dead letters keeps its reason, time, deliveries and consumer."""
    q = make_any(max_deliveries=2)
    await q.add_items(["a", "b"])
    assert await q.get_items(1) == ["a"]
    assert await q.reject_item("a", reason="first try") == 0
    before = await server_now(client)
    assert await q.get_items(1) == ["a"]
    assert await q.reject_items(["a"], reason="ValueError: bad\nline") == 1
    after = await server_now(client)

    assert await q.get_dead_items() == ["a"]  # without details: the items, as before
    [dead] = await q.get_dead_items(details=True)
    assert dead == DeadLetter("a", "ValueError: bad\nline", dead.died_at, 2, consumer_of(q))
    assert before <= dead.died_at < after + 1
    assert await q.get_dead_items(0, details=True) == []


async def test_reject_without_reason_and_a_long_reason(make_any):
    """No reason records None; a reason longer than the limit is cut, the cut marked."""
    q = make_any(max_deliveries=1)
    await q.add_items(["a", "b"])
    await q.reject_items(await q.get_items(1))
    await q.reject_items(await q.get_items(1), reason="x" * (REASON_LIMIT + 1))

    quiet, long = await q.get_dead_items(details=True)
    assert (quiet.item, quiet.reason, quiet.deliveries) == ("a", None, 1)
    assert quiet.consumer == consumer_of(q)
    assert long.reason == "x" * (REASON_LIMIT - len(CUT)) + CUT
    with pytest.raises(TypeError, match="reason must be a str"):
        await q.reject_items(["b"], reason=b"bytes")
    assert await q.get_dead_count() == 2


async def test_recovery_records_lease_expired_and_the_dead_consumer(make, client):
    """An item that dies in a recovery records ``lease expired`` and the dead consumer's id."""
    dead, live = make(max_deliveries=1), make(max_deliveries=1)
    await dead.add_items(["a", "b", "c"])
    assert await dead.get_items(2) == ["a", "b"]
    await set_lease(client, dead, EXPIRED)
    assert await live.re_enqueue_timeout_items() == 2

    records = await live.get_dead_items(details=True)
    assert sorted((r.item, r.reason, r.deliveries, r.consumer) for r in records) == [
        ("a", LEASE_EXPIRED, 1, dead.client_id),
        ("b", LEASE_EXPIRED, 1, dead.client_id),
    ]
    now = await server_now(client)
    assert all(now - 5 <= r.died_at < now + 1 for r in records)


async def test_requeue_and_purge_drop_the_records(make_any, client, name):
    """requeue_dead_items and purge_dead_items leave no record behind."""
    q = make_any(max_deliveries=1)
    await q.add_items(["a", "b", "c"])
    await q.reject_items(await q.get_items(3), reason="r")
    assert len(await records_keys(client, name)) == 1

    assert await q.requeue_dead_items(["b"]) == 1
    assert [d.item for d in await q.get_dead_items(details=True) if d.reason] == ["a", "c"]
    assert await q.requeue_dead_items() == 2
    assert await records_keys(client, name) == []

    await q.reject_items(await q.get_items(3), reason="again")
    assert await q.purge_dead_items() == 3
    assert await records_keys(client, name) == []
    assert await q.get_dead_items(details=True) == []


async def test_dead_letters_of_older_versions_have_no_record(client, name):
    """A dead letter written without a record reads back with None but for the item."""
    q = Queue(name, client)
    await client.rpush(q.keys.dead, "old")
    assert await q.get_dead_items(details=True) == [DeadLetter("old")]


async def test_a_queue_item_dead_twice_keeps_its_last_record(client, name):
    """Copies of one item share the record of its last death, kept until the last copy goes."""
    q = Queue(name, client, max_deliveries=1)
    await q.add_items(["a", "a"])
    await q.get_items(2)
    await q.reject_items(["a"], reason="first")
    await q.reject_items(["a"], reason="second")

    assert [d.reason for d in await q.get_dead_items(details=True)] == ["second", "second"]
    assert await q.requeue_dead_items(["a"]) == 1
    assert [d.reason for d in await q.get_dead_items(details=True)] == ["second"]
    assert await q.requeue_dead_items(["a"]) == 1
    assert await client.exists(q.keys.dead_records) == 0


async def test_history_counts_adds_gets_and_acks(make):
    """The history counts the items added, delivered and acked, and what waits after."""
    queue = make()
    await queue.add_items(["a", "b", "c"])
    await queue.ack_items(await queue.get_items(2))
    history = await queue.get_history(5)
    assert len(history) == 5
    assert await history_totals(queue) == events(added=3, delivered=2, acked=2, waiting=1)
