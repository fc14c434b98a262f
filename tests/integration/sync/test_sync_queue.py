# Generated from tests/integration/test_queue.py by `make unasync`: do not edit.
"""The contract of Queue and UniqueQueue, run against both where they behave the same.

The tests that use only the API every queue shares (``make_any``) run on a ShardedQueue too.
"""

from __future__ import annotations

import os
import re
import socket
import time

import pytest
import redis
from redis import ConnectionPool

from aiopyrq._dead import CUT, LEASE_EXPIRED, REASON_LIMIT
from aiopyrq.sync import DeadLetter, Queue, ShardedQueue, UniqueQueue
from tests.sync_helpers import data_keys, events, history_totals, server_now

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


def waiting(client, queue):
    """The waiting items, in the order they will be taken."""
    return list(reversed(client.lrange(queue.name, 0, -1)))


def held(client, queue):
    """The items in the consumer's processing list, oldest taken first."""
    return list(reversed(client.lrange(queue.processing_queue_name, 0, -1)))


def state(client, name):
    """Every key of the queue ``name`` with its content."""
    result = {}
    for key in data_keys(client.keys(f"{name}*")):
        kind = client.type(key)
        if kind == "list":
            result[key] = client.lrange(key, 0, -1)
        elif kind == "hash":
            result[key] = client.hgetall(key)
        else:
            result[key] = client.smembers(key)
    return result


def set_lease(client, queue, age):
    """Pretend the consumer's last get was ``age`` seconds ago."""
    client.hset(
        queue.timeouts_hash_name, queue.processing_queue_name, server_now(client) - age
    )


def hold_twice(queue):
    """Make the consumer hold ``a`` twice and ``b`` once."""
    queue.add_item("a")
    queue.get_items(1)
    queue.add_items(["a", "b"])
    assert queue.get_items(2) == ["a", "b"]


# Constructors and attributes


def test_constructor_with_client(make, client):
    """A queue made from a redis client uses it."""
    q = make()
    q.add_item("a")
    assert q.redis is client
    assert q.get_items(1) == ["a"]


@pytest.mark.standalone_only
def test_constructor_with_connection_pool(cls, redis_server, name):
    """A queue made from a ConnectionPool (the spec's example) works."""
    pool = ConnectionPool.from_url(redis_server.url, encoding="utf-8", decode_responses=True)
    try:
        q = cls(name, pool)
        q.add_items(["a", "b"])
        assert q.get_items(5) == ["a", "b"]
        q.ack_items(["a", "b"])
        assert q.get_count() == 0
    finally:
        pool.disconnect()


def connections_named(client, client_name):
    """How many connections of the server carry this client name."""
    return sum(1 for entry in client.client_list() if entry["name"] == client_name)


def wait_until_closed(client, client_name):
    """Wait (at most 2 s) until no connection carries this client name; return how many do."""
    for _ in range(100):
        if connections_named(client, client_name) == 0:
            return 0
        time.sleep(0.02)
    return connections_named(client, client_name)


@pytest.mark.standalone_only
def test_from_url_and_aclose(cls, redis_server, client, name):
    """from_url opens a decoding client of its own that close closes."""
    q = cls.from_url(name, f"{redis_server.url}?client_name={name}")
    q.add_item("a")
    assert q.get_items(1) == ["a"]
    assert connections_named(client, name) == 1
    q.close()
    assert wait_until_closed(client, name) == 0


@pytest.mark.standalone_only
def test_from_url_async_with(cls, redis_server, client, name):
    """``with`` a queue from from_url closes its client on exit."""
    with cls.from_url(name, f"{redis_server.url}?client_name={name}") as q:
        q.add_item("a")
        assert q.get_count() == 1
    assert wait_until_closed(client, name) == 0


def test_aclose_leaves_a_client_passed_in_open(make, client):
    """close does not close a client the caller passed in."""
    make().close()
    assert client.ping()


def test_attribute_names(make, name):
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


OTHER_TWIN = redis.asyncio.Redis
"""The client class of the other twin (redis-py's sync or asyncio API), refused here."""


@pytest.mark.standalone_only
def test_wrong_redis_type_refused(cls, redis_server, name):
    """Anything but a client of this twin (redis here) or ConnectionPool is refused."""
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


def test_re_enqueue_of_one_consumer_spares_its_twin(make, client):
    """Recovering an expired consumer leaves the items of one made in the same second."""
    dead, live = same_second_pair(make)
    dead.add_items(["a", "b", "c"])
    assert dead.get_items(2) == ["a", "b"]
    assert live.get_items(1) == ["c"]
    set_lease(client, dead, EXPIRED)
    assert live.re_enqueue_timeout_items() == 2
    assert held(client, live) == ["c"]
    live.ack_item("c")
    assert waiting(client, live) == ["a", "b"]


# Counting, adding and getting


def test_get_count(make_any):
    """get_count counts the waiting items, not those taken."""
    q = make_any()
    assert q.get_count() == 0
    q.add_items(["a", "b", "c"])
    assert q.get_count() == 3
    q.get_items(2)
    assert q.get_count() == 1


def test_add_item_then_get(make_any):
    """An added item is the one get_items returns."""
    q = make_any()
    q.add_item("a")
    assert q.get_items(1) == ["a"]


def test_fifo_across_add_calls(make_any):
    """Items come out in the order they were added, across several add calls."""
    q = make_any()
    q.add_item("a")
    q.add_items(["b", "c"])
    q.add_item("d")
    q.add_items(["e"])
    assert q.get_items(2) == ["a", "b"]
    assert q.get_items(10) == ["c", "d", "e"]


def test_get_more_than_waiting(make_any):
    """Asking for more items than wait returns those that wait."""
    q = make_any()
    q.add_items(["a", "b"])
    assert q.get_items(100) == ["a", "b"]
    assert q.get_items(100) == []


def test_get_zero_writes_nothing(make_any, client, name):
    """get_items(0) returns [] and creates no processing list or lease."""
    q = make_any()
    q.add_item("a")
    before = state(client, name)
    assert q.get_items(0) == []
    assert state(client, name) == before


def test_get_on_empty_queue_creates_nothing(make_any, client, name):
    """get_items on an empty queue returns [] and writes no key."""
    assert make_any().get_items(5) == []
    assert data_keys(client.keys(f"{name}*")) == []


def test_get_moves_items_and_stamps_lease(make, client):
    """get_items moves items to the processing list and stamps the lease with server time."""
    q = make()
    q.add_items(["a", "b", "c"])
    before = server_now(client)
    q.get_items(2)
    stamp = int(client.hget(q.timeouts_hash_name, q.processing_queue_name))
    assert before <= stamp <= server_now(client)
    assert held(client, q) == ["a", "b"]
    assert waiting(client, q) == ["c"]


# Acknowledging


def test_ack_last_item_removes_processing_list_and_lease(make, client):
    """Acking every held item deletes the processing list and its timeouts entry."""
    q = make()
    q.add_items(["a", "b"])
    q.get_items(2)
    q.ack_item("a")
    assert held(client, q) == ["b"]
    assert client.hexists(q.timeouts_hash_name, q.processing_queue_name)
    q.ack_items(["b"])
    assert not client.exists(q.processing_queue_name)
    assert not client.exists(q.timeouts_hash_name)


def test_ack_of_item_not_held_changes_nothing(make_any, client, name):
    """Acking an item the consumer does not hold changes no key."""
    q = make_any()
    q.add_items(["a", "b"])
    q.get_items(1)
    before = state(client, name)
    q.ack_items(["b", "x"])
    assert state(client, name) == before


def test_ack_duplicates_in_one_batch(make, client):
    """Each entry of a batch acks one held occurrence; extra entries do nothing."""
    q = make()
    hold_twice(q)
    q.ack_items(["a", "a", "a"])
    assert held(client, q) == ["b"]
    q.ack_items(["b", "b"])
    assert not client.exists(q.processing_queue_name, q.timeouts_hash_name)


# Rejecting


def test_reject_items_go_first_in_batch_order(make_any):
    """Rejected items are taken next, in the batch's order, before older waiting items."""
    q = make_any()
    q.add_items(["a", "b", "c", "d", "e"])
    assert q.get_items(3) == ["a", "b", "c"]
    q.reject_items(["c", "a", "b"])
    assert q.get_items(10) == ["c", "a", "b", "d", "e"]


def test_reject_item_and_release(make, client):
    """reject_item puts one item back; the last one held removes the processing list."""
    q = make()
    q.add_items(["a", "b"])
    q.get_items(1)
    q.reject_item("a")
    assert waiting(client, q) == ["a", "b"]
    assert not client.exists(q.processing_queue_name, q.timeouts_hash_name)


def test_reject_of_item_not_held_queues_nothing(make_any, client, name):
    """Rejecting an item the consumer does not hold changes no key."""
    q = make_any()
    q.add_items(["a", "b"])
    q.get_items(1)
    before = state(client, name)
    q.reject_items(["b", "x"])
    assert state(client, name) == before


def test_reject_twice_queues_once(make, client):
    """Rejecting the same held item twice puts it back once."""
    q = make()
    q.add_item("a")
    q.get_items(1)
    q.reject_item("a")
    q.reject_item("a")
    assert waiting(client, q) == ["a"]


def test_queue_reject_duplicates_in_batch(queue, client):
    """Queue: a batch naming an item twice puts back both occurrences held, no more."""
    hold_twice(queue)
    queue.reject_items(["a", "a", "a"])
    assert waiting(client, queue) == ["a", "a"]
    assert held(client, queue) == ["b"]


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
def test_delete_item_count_as_lrem(queue, client, count, expected):
    """count 0 deletes all, > 0 the newest first, < 0 the oldest first."""
    queue.add_items(["a", "b", "a", "c", "a"])
    queue.delete_item("a", count)
    assert waiting(client, queue) == expected


@pytest.mark.parametrize(("count", "expected"), [(0, ["b", "c"]), (1, ["a", "b", "c"])])
def test_delete_items_duplicates_in_batch(queue, client, count, expected):
    """An item named twice in a batch deletes as two LREMs would."""
    queue.add_items(["a", "b", "a", "c", "a"])
    queue.delete_items(["a", "a", "x"], count)
    assert waiting(client, queue) == expected


@pytest.mark.parametrize("count", [0, 3, -3])
def test_delete_items_large_batch_matches_lrem(queue, client, name, count):
    """A batch of many distinct items leaves the list exactly as one LREM per entry."""
    values = [f"v{i % 40}" for i in range(400)]
    batch = [f"v{i}" for i in range(0, 40, 2)] + ["v0", "v2", "missing"]
    queue.add_items(values)
    reference = f"{name}-reference"
    client.lpush(reference, *values)
    for item in batch:
        client.lrem(reference, count, item)
    queue.delete_items(batch, count)
    assert client.lrange(name, 0, -1) == client.lrange(reference, 0, -1)


def test_delete_items_leaves_processing_list(queue, client):
    """delete_items deletes waiting items only, not those held."""
    queue.add_items(["a", "a"])
    queue.get_items(1)
    queue.delete_items(["a"])
    assert queue.get_count() == 0
    assert held(client, queue) == ["a"]


# Recovery: re_enqueue_* and drop_*


def test_re_enqueue_timeout_items(make, client):
    """Expired consumers' items go back first in line; a fresh consumer keeps its own."""
    dead, live = make(), make()
    dead.add_items(["a", "b", "c", "d"])
    dead.get_items(2)
    live.get_items(1)
    set_lease(client, dead, EXPIRED)
    assert live.re_enqueue_timeout_items() == 2
    assert waiting(client, live) == ["a", "b", "d"]
    assert not client.exists(dead.processing_queue_name)
    assert client.hkeys(live.timeouts_hash_name) == [live.processing_queue_name]
    assert held(client, live) == ["c"]


def test_re_enqueue_timeout_argument(make, client):
    """A lease younger than ``timeout`` seconds is kept, an older one recovered."""
    q = make()
    q.add_items(["a", "b"])
    q.get_items(2)
    set_lease(client, q, 100)
    assert q.re_enqueue_timeout_items(200) == 0
    assert held(client, q) == ["a", "b"]
    assert q.re_enqueue_timeout_items(50) == 2
    assert waiting(client, q) == ["a", "b"]


def test_re_enqueue_timeout_with_nothing_to_do(make_any):
    """Without processing lists, re_enqueue_timeout_items returns 0."""
    assert make_any().re_enqueue_timeout_items() == 0


def test_drop_timeout_items(make, client):
    """Expired consumers' items are deleted; a fresh consumer keeps its own."""
    dead, live = make(), make()
    dead.add_items(["a", "b", "c", "d"])
    dead.get_items(2)
    live.get_items(1)
    set_lease(client, dead, EXPIRED)
    assert live.drop_timeout_items() == 2
    assert waiting(client, live) == ["d"]
    assert not client.exists(dead.processing_queue_name)
    assert client.hkeys(live.timeouts_hash_name) == [live.processing_queue_name]
    assert held(client, live) == ["c"]


def three_consumers(make, client):
    """Consumers holding [1, 2], [3, 4], [5, 6], oldest lease first; 7 and 8 wait."""
    consumers = [make(), make(), make()]
    consumers[0].add_items([str(i) for i in range(1, 9)])
    for age, consumer in zip((30, 20, 10), consumers, strict=True):
        consumer.get_items(2)
        set_lease(client, consumer, age)
    return consumers


def test_re_enqueue_all_items_oldest_first(make, client):
    """Every consumer's items go back, the oldest taken first, before the waiting ones."""
    consumers = three_consumers(make, client)
    assert consumers[2].re_enqueue_all_items() == 6
    assert waiting(client, consumers[0]) == [str(i) for i in range(1, 9)]
    assert not client.exists(*(c.processing_queue_name for c in consumers))
    assert not client.exists(consumers[0].timeouts_hash_name)


def test_drop_all_items(make, client):
    """Every consumer's items are deleted; the waiting items stay."""
    consumers = three_consumers(make, client)
    assert consumers[0].drop_all_items() == 6
    assert waiting(client, consumers[0]) == ["7", "8"]
    assert not client.exists(*(c.processing_queue_name for c in consumers))
    assert not client.exists(consumers[0].timeouts_hash_name)


def test_negative_timeout_refused(make_any):
    """A negative timeout raises ValueError."""
    with pytest.raises(ValueError, match="timeout"):
        make_any().re_enqueue_timeout_items(-1)
    with pytest.raises(ValueError, match="timeout"):
        make_any().drop_timeout_items(-1)


# can_rollback_item / reset_blocked_item. Original defect 2: the README's max_retry and
# max_timeout raised KeyError; both they and the original names must work.

ROLLBACK_OPTIONS = [("max_retry", "max_timeout"), ("max_retry_rollback", "max_timeout_in_queue")]


def server_minute(client):
    """The server's clock, in unix minutes."""
    return server_now(client) // 60


@pytest.mark.parametrize(("retry", "timeout"), ROLLBACK_OPTIONS)
def test_rollback_refused_after_retries_and_minutes(make, client, retry, timeout):
    """An item is refused once counted more than max_retry times over max_timeout minutes."""
    q = make(**{retry: 2, timeout: 10})
    assert [q.can_rollback_item("a") for _ in range(4)] == [True] * 4
    client.hset(q.retry_timeout_name, "a", server_minute(client) - 11)
    assert not q.can_rollback_item("a")
    assert client.hget(q.retry_count_name, "a") == "5"


@pytest.mark.parametrize(("retry", "timeout"), ROLLBACK_OPTIONS)
def test_rollback_allowed_within_window(make, client, retry, timeout):
    """Many rollbacks within max_timeout minutes are allowed."""
    q = make(**{retry: 1, timeout: 10})
    q.can_rollback_item("a")
    client.hset(q.retry_timeout_name, "a", server_minute(client) - 9)
    assert q.can_rollback_item("a")
    assert q.can_rollback_item("a")


def test_rollback_allowed_under_max_retry(make, client):
    """An old item counted at most max_retry times is allowed."""
    q = make(max_retry=3, max_timeout=1)
    q.can_rollback_item("a")
    client.hset(q.retry_timeout_name, "a", server_minute(client) - 100)
    assert [q.can_rollback_item("a") for _ in range(2)] == [True, True]
    assert not q.can_rollback_item("a")


def test_rollback_counts_per_item(make, client):
    """Each item has its own counter and first minute, stamped with the server's minute."""
    q = make(max_retry=1, max_timeout=1)
    before = server_minute(client)
    q.can_rollback_item("a")
    q.can_rollback_item("a")
    q.can_rollback_item("b")
    assert client.hgetall(q.retry_count_name) == {"a": "2", "b": "1"}
    first = int(client.hget(q.retry_timeout_name, "a"))
    assert before <= first <= server_minute(client)


def test_reset_blocked_item(make, client):
    """reset_blocked_item forgets the item's counter and first minute."""
    q = make(max_retry=0, max_timeout=0)
    q.can_rollback_item("a")
    client.hset(q.retry_timeout_name, "a", server_minute(client) - 5)
    assert not q.can_rollback_item("a")
    q.reset_blocked_item("a")
    assert not client.exists(q.retry_count_name, q.retry_timeout_name)
    assert q.can_rollback_item("a")
    assert client.hget(q.retry_count_name, "a") == "1"


def test_reset_of_unknown_item_writes_nothing(make, client, name):
    """reset_blocked_item of an item never counted writes no key."""
    make().reset_blocked_item("a")
    assert data_keys(client.keys(f"{name}*")) == []


@pytest.mark.parametrize("options", [{}, {"max_retry": 1}, {"max_timeout_in_queue": 1}])
def test_rollback_without_options_raises(make, options):
    """can_rollback_item without both options raises ValueError."""
    with pytest.raises(ValueError, match="max_retry"):
        make(**options).can_rollback_item("a")


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
def test_item_round_trip(make_any, item, expected):
    """An item comes back exactly (numbers as str) through get, reject and ack."""
    q = make_any()
    q.add_item(item)
    assert q.get_items(1) == [expected]
    q.reject_item(expected)
    assert q.get_items(1) == [expected]
    q.ack_items([item])
    assert q.get_count() == 0
    assert q.release() == 0  # acked as given, not only as it came back


def test_bytes_round_trip_with_raw_client(make, raw_client):
    """Non-UTF-8 bytes come back as the same bytes from a client that does not decode."""
    q = make(raw_client)
    q.add_items([b"\xff\x00", b"\x80"])
    assert q.get_items(1) == [b"\xff\x00"]
    q.reject_items([b"\xff\x00"])
    assert q.get_items(2) == [b"\xff\x00", b"\x80"]
    q.ack_items([b"\xff\x00", b"\x80"])
    assert not raw_client.exists(q.processing_queue_name)


# Bad input raises before anything is written

BAD_ITEMS = [None, {"a": 1}, ["a"], True]
SINGLE_CALLS = ["add_item", "ack_item", "reject_item", "delete_item"]
BATCH_CALLS = ["add_items", "ack_items", "reject_items", "delete_items"]


def prepared(make):
    """A queue with an item held and one waiting."""
    q = make()
    q.add_items(["a", "b"])
    q.get_items(1)
    return q


@pytest.mark.parametrize("method", SINGLE_CALLS)
@pytest.mark.parametrize("bad", BAD_ITEMS, ids=["None", "dict", "list", "bool"])
def test_bad_item_refused(make_any, client, name, method, bad):
    """An item of the wrong type raises TypeError and writes nothing."""
    q = prepared(make_any)
    before = state(client, name)
    with pytest.raises(TypeError):
        getattr(q, method)(bad)
    assert state(client, name) == before


@pytest.mark.parametrize("method", BATCH_CALLS)
@pytest.mark.parametrize("items", ["ab", b"ab", 5, None])
def test_items_not_a_list_refused(make_any, client, name, method, items):
    """A str, bytes or non-iterable passed as ``items`` raises TypeError and writes nothing."""
    q = prepared(make_any)
    before = state(client, name)
    with pytest.raises(TypeError):
        getattr(q, method)(items)
    assert state(client, name) == before


@pytest.mark.parametrize("method", BATCH_CALLS)
def test_batch_with_last_item_bad_writes_nothing(make_any, client, name, method):
    """A batch whose last item is bad writes none of the good ones."""
    q = prepared(make_any)
    before = state(client, name)
    with pytest.raises(TypeError):
        getattr(q, method)(["a", "b", "c", None])
    assert state(client, name) == before


@pytest.mark.parametrize("method", BATCH_CALLS)
def test_empty_batch_is_a_no_op(make_any, client, name, method):
    """An empty batch writes no key."""
    getattr(make_any(), method)([])
    getattr(make_any(), method)(iter(()))
    assert data_keys(client.keys(f"{name}*")) == []


def test_negative_count_refused(make_any, client, name):
    """get_items with a negative count raises ValueError and writes nothing."""
    q = prepared(make_any)
    before = state(client, name)
    with pytest.raises(ValueError, match="count"):
        q.get_items(-1)
    assert state(client, name) == before


@pytest.mark.parametrize("count", [1.0, "2", None, True])
def test_non_int_count_refused(make_any, client, name, count):
    """get_items with a count that is not an int raises TypeError and writes nothing."""
    q = prepared(make_any)
    before = state(client, name)
    with pytest.raises(TypeError):
        q.get_items(count)
    assert state(client, name) == before


@pytest.mark.parametrize("count", [1.0, "2", None])
def test_queue_delete_non_int_count_refused(queue, count):
    """Queue.delete_items with a count that is not an int raises TypeError."""
    queue.add_items(["a", "a"])
    with pytest.raises(TypeError):
        queue.delete_items(["a"], count)
    assert queue.get_count() == 2


# Original defect 5: one command per batch, linear cost


SENTINEL = "aiopyrq-test-sentinel"


def commands_sent(redis_server, client, action):
    """Run ``action`` and return the commands that clients (not scripts) sent meanwhile.

    MONITOR lists every command the server runs; those run by a script are marked ``lua``.
    """
    watcher = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.ping()  # the ECHO below finds a connection ready: no handshake in the list
    try:
        with watcher.monitor() as monitor:
            action()
            client.echo(SENTINEL)
            sent = []
            for _ in range(100_000):
                entry = monitor.next_command()
                if entry["command"] == f"ECHO {SENTINEL}":
                    break
                if entry["client_type"] != "lua":
                    sent.append(entry["command"].split(" ", 1)[0].upper())
            return sent
    finally:
        watcher.close()


BATCH = [f"item-{i}" for i in range(1000)]


@pytest.mark.standalone_only
@pytest.mark.parametrize("method", BATCH_CALLS)
def test_batch_of_1000_is_one_command(make, redis_server, client, method):
    """A batch call of 1,000 items sends exactly one command to Redis."""
    q = make()
    q.add_items(BATCH)
    q.get_items(len(BATCH) // 2)
    getattr(q, method)(["warm-up"])  # loads the script
    sent = commands_sent(redis_server, client, lambda: getattr(q, method)(BATCH))
    assert sent == ["EVALSHA"]


def script_usec(client, action):
    """Run ``action`` and return the server's time spent in EVALSHA meanwhile, in µs."""

    def usec():
        stats = client.info("commandstats")
        return stats.get("cmdstat_evalsha", {}).get("usec", 0)

    before = usec()
    action()
    return usec() - before


def ack_cost(make, client, size):
    """The best of 3 server times to ack ``size`` held items in reverse order."""
    q = make()
    items = [f"item-{i}" for i in range(size)]
    costs = []
    for _ in range(3):
        q.add_items(items)
        taken = q.get_items(size)
        costs.append(script_usec(client, lambda t=taken: q.ack_items(reversed(t))))
        assert not client.exists(q.processing_queue_name)
    return min(costs)


@pytest.mark.standalone_only
def test_ack_items_cost_is_not_quadratic(make, client):
    """Acking 10x more held items (reversed) costs well under 100x (quadratic) the time."""
    make().ack_items(["warm-up"])
    small = ack_cost(make, client, 1_000)
    large = ack_cost(make, client, 10_000)
    assert large < 40 * max(small, 1)


def delete_cost(make, client, size):
    """The best of 3 server times to delete half of ``size`` distinct waiting items."""
    q = make()
    items = [f"item-{i}" for i in range(size)]
    costs = []
    for _ in range(3):
        q.add_items(items)
        costs.append(script_usec(client, lambda: q.delete_items(items[::-2])))
        assert waiting(client, q) == items[::2]
        q.get_items(size)
        q.ack_items(items[::2])
    return min(costs)


@pytest.mark.standalone_only
def test_delete_items_cost_is_not_quadratic(make, client):
    """Deleting 10x more items from a 10x longer queue costs well under 100x the time."""
    make().delete_items(["warm-up"])
    small = delete_cost(make, client, 1_000)
    large = delete_cost(make, client, 10_000)
    assert large < 40 * max(small, 1)


# Scripts forgotten by Redis (SCRIPT FLUSH, failover) are loaded again


@pytest.mark.parametrize(
    "options",
    [{}, {"synced_slaves_enabled": True, "synced_slaves_count": 0}],
    ids=["single", "pipeline"],
)
def test_script_flush_between_calls(make, client, options):
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
        client.script_flush()
        assert step() == expected
    assert waiting(client, q) == ["c", "d"]


# --- Dead letters that say why ---


def consumer_of(queue):
    """The consumer id a queue's rejects record (a ShardedQueue's: its shard's)."""
    return queue.shards[0].client_id if isinstance(queue, ShardedQueue) else queue.client_id


def records_keys(client, name):
    """The dead-letter records hashes of the structure ``name`` (and of its shards)."""
    return [key for key in client.keys(f"*{name}*") if key.endswith("-dead-records")]


def test_reject_records_why_when_and_by_whom(make_any, client):
    """An item rejected into the dead letters keeps its reason, time, deliveries and consumer."""
    q = make_any(max_deliveries=2)
    q.add_items(["a", "b"])
    assert q.get_items(1) == ["a"]
    assert q.reject_item("a", reason="first try") == 0
    before = server_now(client)
    assert q.get_items(1) == ["a"]
    assert q.reject_items(["a"], reason="ValueError: bad\nline") == 1
    after = server_now(client)

    assert q.get_dead_items() == ["a"]  # without details: the items, as before
    [dead] = q.get_dead_items(details=True)
    assert dead == DeadLetter("a", "ValueError: bad\nline", dead.died_at, 2, consumer_of(q))
    assert before <= dead.died_at < after + 1
    assert q.get_dead_items(0, details=True) == []


def test_reject_without_reason_and_a_long_reason(make_any):
    """No reason records None; a reason longer than the limit is cut, the cut marked."""
    q = make_any(max_deliveries=1)
    q.add_items(["a", "b"])
    q.reject_items(q.get_items(1))
    q.reject_items(q.get_items(1), reason="x" * (REASON_LIMIT + 1))

    quiet, long = q.get_dead_items(details=True)
    assert (quiet.item, quiet.reason, quiet.deliveries) == ("a", None, 1)
    assert quiet.consumer == consumer_of(q)
    assert long.reason == "x" * (REASON_LIMIT - len(CUT)) + CUT
    with pytest.raises(TypeError, match="reason must be a str"):
        q.reject_items(["b"], reason=b"bytes")
    assert q.get_dead_count() == 2


def test_recovery_records_lease_expired_and_the_dead_consumer(make, client):
    """An item that dies in a recovery records ``lease expired`` and the dead consumer's id."""
    dead, live = make(max_deliveries=1), make(max_deliveries=1)
    dead.add_items(["a", "b", "c"])
    assert dead.get_items(2) == ["a", "b"]
    set_lease(client, dead, EXPIRED)
    assert live.re_enqueue_timeout_items() == 2

    records = live.get_dead_items(details=True)
    assert sorted((r.item, r.reason, r.deliveries, r.consumer) for r in records) == [
        ("a", LEASE_EXPIRED, 1, dead.client_id),
        ("b", LEASE_EXPIRED, 1, dead.client_id),
    ]
    now = server_now(client)
    assert all(now - 5 <= r.died_at < now + 1 for r in records)


def test_requeue_and_purge_drop_the_records(make_any, client, name):
    """requeue_dead_items and purge_dead_items leave no record behind."""
    q = make_any(max_deliveries=1)
    q.add_items(["a", "b", "c"])
    q.reject_items(q.get_items(3), reason="r")
    assert len(records_keys(client, name)) == 1

    assert q.requeue_dead_items(["b"]) == 1
    assert [d.item for d in q.get_dead_items(details=True) if d.reason] == ["a", "c"]
    assert q.requeue_dead_items() == 2
    assert records_keys(client, name) == []

    q.reject_items(q.get_items(3), reason="again")
    assert q.purge_dead_items() == 3
    assert records_keys(client, name) == []
    assert q.get_dead_items(details=True) == []


def test_dead_letters_of_older_versions_have_no_record(client, name):
    """A dead letter written without a record reads back with None but for the item."""
    q = Queue(name, client)
    client.rpush(q.keys.dead, "old")
    assert q.get_dead_items(details=True) == [DeadLetter("old")]


def test_a_queue_item_dead_twice_keeps_its_last_record(client, name):
    """Copies of one item share the record of its last death, kept until the last copy goes."""
    q = Queue(name, client, max_deliveries=1)
    q.add_items(["a", "a"])
    q.get_items(2)
    q.reject_items(["a"], reason="first")
    q.reject_items(["a"], reason="second")

    assert [d.reason for d in q.get_dead_items(details=True)] == ["second", "second"]
    assert q.requeue_dead_items(["a"]) == 1
    assert [d.reason for d in q.get_dead_items(details=True)] == ["second"]
    assert q.requeue_dead_items(["a"]) == 1
    assert client.exists(q.keys.dead_records) == 0


def test_history_counts_adds_gets_and_acks(make):
    """The history counts the items added, delivered and acked, and what waits after."""
    queue = make()
    queue.add_items(["a", "b", "c"])
    queue.ack_items(queue.get_items(2))
    history = queue.get_history(5)
    assert len(history) == 5
    assert history_totals(queue) == events(added=3, delivered=2, acked=2, waiting=1)
