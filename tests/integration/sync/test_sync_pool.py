# Generated from tests/integration/test_pool.py by `make unasync`: do not edit.
"""Pool on a real server: every public method, its timing and its scores in the sorted set.

Scores are the original layout: an item due at unix second ``t`` has the score ``t``; an item
handed out (in flight) has ``t + ack_ttl + 0.1``, the fraction ``.1`` marking it in flight.
Time passing is simulated by writing scores with raw ZADD; only the ``ack_ttl=1`` test sleeps.
"""

from __future__ import annotations

import math
import time

import pytest

from aiopyrq.sync import Pool
from tests.sync_helpers import events, history_totals, server_now

pytestmark = [pytest.mark.redis, pytest.mark.all_deployments]

ITEMS = [f"item-{i}" for i in range(1000)]


def in_flight_until(score: float) -> int:
    """The integer part of an in-flight score, after checking its fraction is .1."""
    assert math.isclose(score - math.floor(score), 0.1, abs_tol=1e-6), score
    return math.floor(score)


def command_calls(client) -> dict[str, int]:
    """Calls per command since the server started (INFO commandstats)."""
    stats = client.info("commandstats")
    return {key.removeprefix("cmdstat_"): value["calls"] for key, value in stats.items()}


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The commands called between two command_calls snapshots, INFO itself left out."""
    changes = {key: calls - before.get(key, 0) for key, calls in after.items()}
    return {key: n for key, n in changes.items() if n and key != "info"}


def get_within(pool: Pool, seconds: float) -> list:
    """Call get_items until it hands something out, for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        items = pool.get_items(10)
        if items:
            return items
        time.sleep(0.05)
    return []


def test_counts_and_membership(client, name):
    """get_count counts all items, get_count_to_process the due ones; is_in_pool finds items."""
    pool = Pool(name, client)
    assert pool.get_count() == 0
    assert pool.get_count_to_process() == 0
    pool.add_item("a")
    pool.add_items(["b", 7, 1.5])
    client.zadd(name, {"later": server_now(client) + 1000})
    assert pool.get_count() == 5
    assert pool.get_count_to_process() == 4
    assert pool.is_in_pool("a")
    assert pool.is_in_pool(7)
    assert pool.is_in_pool("1.5")
    assert pool.is_in_pool("later")
    assert not pool.is_in_pool("missing")
    assert pool.get_items(1) in (["a"], ["b"], ["7"], ["1.5"])
    assert pool.get_count() == 5
    assert pool.get_count_to_process() == 3


def test_get_items_hands_out_due_items_earliest_first(client, name):
    """get_items hands out only due items, the earliest due first, each once."""
    now = server_now(client)
    client.zadd(name, {"a": now - 30, "b": now - 10, "c": now - 20, "future": now + 1000})
    pool = Pool(name, client)
    assert pool.get_items(2) == ["a", "c"]
    assert pool.get_items(10) == ["b"]
    assert pool.get_items(10) == []
    assert pool.get_count() == 4
    assert client.zscore(name, "future") == now + 1000


def test_get_items_zero_takes_nothing(client, name):
    """get_items(0) returns nothing and leaves every item due."""
    pool = Pool(name, client)
    pool.add_items(["a", "b"])
    assert pool.get_items(0) == []
    assert pool.get_count_to_process() == 2


@pytest.mark.parametrize("count", [9, 10])
def test_get_all_items_in_small_chunks(client, name, count):
    """get_all_items hands out every due item once, chunk by chunk, and nothing more after."""
    pool = Pool(name, client, chunk_size=3)
    items = [f"i{n}" for n in range(count)]
    pool.add_items(items)
    client.zadd(name, {"future": server_now(client) + 1000})
    taken = pool.get_all_items()
    assert sorted(taken) == sorted(items)
    assert pool.get_all_items() == []
    assert pool.get_count() == count + 1


def test_scores_have_the_original_shape(client, name):
    """Due scores are whole server seconds; in-flight ones are whole seconds + ack_ttl + .1."""
    pool = Pool(name, client, ack_ttl=600, ack_valid_for=5000)
    before = server_now(client)
    pool.add_items(["a", "b"])
    after = server_now(client)
    score = client.zscore(name, "a")
    assert score == int(score)
    assert before <= score <= after

    before = server_now(client)
    assert sorted(pool.get_items(2)) == ["a", "b"]
    after = server_now(client)
    for item in ("a", "b"):
        assert before + 600 <= in_flight_until(client.zscore(name, item)) <= after + 600

    before = server_now(client)
    pool.ack_item("a")
    after = server_now(client)
    score = client.zscore(name, "a")
    assert score == int(score)
    assert before + 5000 <= score <= after + 5000


def test_item_in_flight_comes_back_after_ack_ttl(client, name):
    """An item handed out is not handed out again before ack_ttl, and is once it has passed."""
    pool = Pool(name, client, ack_ttl=1)
    pool.add_item("a")
    handed_out = server_now(client)
    assert pool.get_items(10) == ["a"]
    assert pool.get_items(10) == []
    assert pool.get_count_to_process() == 0
    assert get_within(pool, 3.0) == ["a"]
    assert server_now(client) >= handed_out + 1
    assert pool.get_items(10) == []


def test_ack_with_zero_validity_makes_the_item_due_at_once(client, name):
    """With ack_valid_for=0 an acknowledged item is due again at once."""
    pool = Pool(name, client, ack_valid_for=0)
    pool.add_item("a")
    assert pool.get_items(1) == ["a"]
    pool.ack_item("a")
    assert pool.get_count_to_process() == 1
    assert pool.get_items(1) == ["a"]


def test_ack_with_long_validity_keeps_the_item_not_due(client, name):
    """With the default ack_valid_for an acknowledged item stays in the pool but is not due."""
    pool = Pool(name, client)
    pool.add_items(["a", "b"])
    assert sorted(pool.get_items(10)) == ["a", "b"]
    now = server_now(client)
    pool.ack_items(["a", "b"])
    assert pool.get_items(10) == []
    assert pool.get_count() == 2
    assert pool.get_count_to_process() == 0
    for item in ("a", "b"):
        score = client.zscore(name, item)
        assert score == int(score)
        assert score >= now + 129600


def test_ack_of_items_not_in_flight_changes_nothing(client, name):
    """Acknowledging an item that is due, acknowledged already or absent changes no score."""
    now = server_now(client)
    scores = {"due": now - 5, "acked": now + 1000}
    client.zadd(name, scores)
    pool = Pool(name, client)
    pool.ack_items(["due", "acked", "absent"])
    pool.ack_item("due")
    assert dict(client.zrange(name, 0, -1, withscores=True)) == scores


def test_remove_only_removes_items_in_flight(client, name):
    """remove_item(s) removes the items in flight and leaves the others as they are."""
    now = server_now(client)
    client.zadd(name, {"x": now - 60, "y": now - 50, "due": now - 5, "acked": now + 1000})
    pool = Pool(name, client)
    assert pool.get_items(2) == ["x", "y"]
    pool.remove_items(["x", "due", "acked", "absent"])
    pool.remove_item("y")
    pool.remove_item("due")
    assert dict(client.zrange(name, 0, -1, withscores=True)) == {
        "due": now - 5,
        "acked": now + 1000,
    }


def test_delete_removes_items_in_any_state(client, name):
    """delete_item(s) removes items whether due, in flight or acknowledged."""
    now = server_now(client)
    client.zadd(name, {"flying": now - 60, "due": now - 5, "acked": now + 1000, "kept": now})
    pool = Pool(name, client)
    assert pool.get_items(1) == ["flying"]
    pool.delete_items(["flying", "due", "absent"])
    pool.delete_item("acked")
    assert client.zrange(name, 0, -1) == ["kept"]


def test_add_of_an_existing_item_makes_it_due_now(client, name):
    """Adding an item already in the pool (acknowledged or in flight) makes it due now."""
    pool = Pool(name, client)
    pool.add_items(["acked", "flying"])
    assert sorted(pool.get_items(2)) == ["acked", "flying"]
    pool.ack_item("acked")
    assert pool.get_count_to_process() == 0
    before = server_now(client)
    pool.add_items(["acked", "flying"])
    after = server_now(client)
    for item in ("acked", "flying"):
        score = client.zscore(name, item)
        assert score == int(score)
        assert before <= score <= after
    assert sorted(pool.get_items(10)) == ["acked", "flying"]
    assert pool.get_count() == 2


def test_overdue_item_is_handed_out_once(client, name):
    """An item overdue by more than ack_ttl is handed out by one get and not by the next.

    The original kept the old score as the base (``floor(score) + ack_ttl + .1``), so an
    item overdue by more than ack_ttl was still due and handed out twice.
    """
    now = server_now(client)
    client.zadd(name, {"due": now - 10000, "lost": now - 10000 + 0.1})
    pool = Pool(name, client, ack_ttl=600)
    assert sorted(pool.get_items(10)) == ["due", "lost"]
    assert pool.get_items(10) == []
    for item in ("due", "lost"):
        assert in_flight_until(client.zscore(name, item)) >= now + 600


def test_clear_pool_deletes_every_item(client, name):
    """clear_pool deletes the pool, whatever state its items are in, and no other key."""
    other = f"{name}-other"
    client.zadd(other, {"kept": 1})
    pool = Pool(name, client, chunk_size=10)
    pool.add_items(ITEMS[:250])
    assert len(pool.get_items(30)) == 30
    pool.ack_items(ITEMS[:10])
    pool.clear_pool()
    assert pool.get_count() == 0
    assert not client.exists(name)
    assert client.zrange(other, 0, -1) == ["kept"]
    client.delete(other)


@pytest.mark.standalone_only
def test_batch_operations_are_one_command_each(client, name):
    """add_items, ack_items, remove_items and delete_items of 1,000 items send one command each."""
    pool = Pool(name, client, chunk_size=1000)
    pool.add_item("warm-up")  # load the scripts, so no NOSCRIPT round trip is counted
    assert pool.get_items(1) == ["warm-up"]
    pool.ack_item("warm-up")
    pool.remove_item("warm-up")
    pool.delete_item("warm-up")

    before = command_calls(client)
    pool.add_items(ITEMS)
    added = delta(before, command_calls(client))
    assert added.get("evalsha") == 1
    wake_up = {"lpush", "ltrim", "pexpire"}
    kept = {"get", "set", "del"}  # the call's reply kept for a retry, earlier ones deleted
    history = {"hlen", "hincrby", "hset", "pexpire", "zcount"}  # its minute's counts
    assert set(added) <= {"evalsha", "type", "time", "zadd", *wake_up, *kept, *history}
    assert added.get("hincrby") == 1
    assert pool.get_count() == 1000

    assert len(pool.get_all_items()) == 1000
    before = command_calls(client)
    pool.ack_items(ITEMS[:500])
    acked = delta(before, command_calls(client))
    assert acked.get("evalsha") == 1
    assert set(acked) <= {"evalsha", "type", "time", "zscore", "zadd", *kept, *history}
    assert acked.get("hincrby") == 1

    before = command_calls(client)
    pool.remove_items(ITEMS)
    removed = delta(before, command_calls(client))
    assert removed.get("evalsha") == 1
    assert set(removed) <= {"evalsha", "type", "time", "zscore", "zrem", *kept, *history}
    assert pool.get_count() == 500

    before = command_calls(client)
    pool.delete_items(ITEMS)
    assert delta(before, command_calls(client)) == {"zrem": 1}
    assert pool.get_count() == 0


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda pool: pool.add_item(None), TypeError),
        (lambda pool: pool.add_item(item=True), TypeError),
        (lambda pool: pool.add_item({"a": 1}), TypeError),
        (lambda pool: pool.add_items("abc"), TypeError),
        (lambda pool: pool.add_items(["new", None]), TypeError),
        (lambda pool: pool.add_items(["new", ["nested"]]), TypeError),
        (lambda pool: pool.ack_items(["flying", None]), TypeError),
        (lambda pool: pool.ack_item(item=False), TypeError),
        (lambda pool: pool.remove_items(["flying", object()]), TypeError),
        (lambda pool: pool.remove_items("flying"), TypeError),
        (lambda pool: pool.delete_items(["due", None]), TypeError),
        (lambda pool: pool.delete_item(None), TypeError),
        (lambda pool: pool.is_in_pool(None), TypeError),
        (lambda pool: pool.get_items(-1), ValueError),
        (lambda pool: pool.get_items("1"), TypeError),
        (lambda pool: pool.get_items(1.0), TypeError),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(client, name, call, error):
    """A bad item or count raises TypeError/ValueError and the pool is left as it was."""
    pool = Pool(name, client)
    pool.add_items(["flying", "due"])
    client.zadd(name, {"flying": 0})
    assert pool.get_items(1) == ["flying"]
    scores = dict(client.zrange(name, 0, -1, withscores=True))
    with pytest.raises(error):
        call(pool)
    assert dict(client.zrange(name, 0, -1, withscores=True)) == scores


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"ack_ttl": 0}, ValueError),
        ({"ack_ttl": -5}, ValueError),
        ({"ack_ttl": "600"}, TypeError),
        ({"chunk_size": 0}, ValueError),
        ({"chunk_size": 2.5}, TypeError),
        ({"ack_valid_for": -1}, ValueError),
        ({"synced_slaves_timeout": 0}, ValueError),
        ({"no_such_option": 1}, TypeError),
    ],
)
def test_bad_options_are_refused(client, name, options, error):
    """Out-of-range or mistyped options, and unknown ones, are refused by the constructor."""
    with pytest.raises(error):
        Pool(name, client, **options)


@pytest.mark.parametrize(("bad_name", "error"), [("", ValueError), (None, TypeError)])
def test_bad_name_is_refused(client, bad_name, error):
    """An empty or non-str pool name is refused."""
    with pytest.raises(error):
        Pool(bad_name, client)


def test_empty_batches_write_nothing(client, name):
    """Empty batches are no-ops: no key is created."""
    pool = Pool(name, client)
    pool.add_items([])
    pool.ack_items([])
    pool.remove_items([])
    pool.delete_items([])
    assert not client.exists(name)


def test_bytes_round_trip(raw_client, name):
    """Binary items come back unchanged from a client that does not decode."""
    blob = bytes(range(256))
    pool = Pool(name, raw_client, ack_valid_for=0)
    pool.add_items([blob, "text"])
    assert pool.is_in_pool(blob)
    assert sorted(pool.get_items(10)) == sorted([blob, b"text"])
    pool.ack_item(blob)
    pool.remove_item(b"text")
    assert pool.get_items(10) == [blob]
    pool.delete_item(blob)
    assert pool.get_count() == 0


def test_scripts_are_reloaded_after_script_flush(client, name):
    """Every script call works again after SCRIPT FLUSH makes the server forget the scripts."""
    pool = Pool(name, client, ack_valid_for=0)
    client.script_flush()
    pool.add_items(["a", "b", "c"])
    client.script_flush()
    assert pool.get_count_to_process() == 3
    client.script_flush()
    assert sorted(pool.get_items(10)) == ["a", "b", "c"]
    client.script_flush()
    pool.ack_items(["a"])
    client.script_flush()
    pool.remove_items(["b"])
    client.script_flush()
    assert pool.get_all_items() == ["a"]
    assert pool.get_count() == 2


def test_history_counts_adds_gets_and_acks(client, name):
    """The history counts the items new to the pool, handed out and acked, and those due."""
    pool = Pool(name, client)
    pool.add_items(["a", "b", "c"])
    pool.add_items(["a"])
    pool.ack_items(pool.get_items(2))
    assert history_totals(pool) == events(added=3, delivered=2, acked=2, waiting=1)
