# Generated from tests/integration/test_unique_queue.py by `make unasync`: do not edit.
"""What only UniqueQueue does: an item waits at most once, NAME-unique mirrors the queue."""

from __future__ import annotations

import pytest

from aiopyrq.sync import UniqueQueue
from tests.sync_helpers import data_keys

pytestmark = [pytest.mark.redis, pytest.mark.all_deployments]


@pytest.fixture
def make(client, name):
    """Make a consumer of the unique queue ``name``: each call is one more consumer."""

    def make(using=None):
        return UniqueQueue(name, using or client)

    return make


@pytest.fixture
def queue(make):
    """One consumer of the unique queue ``name``."""
    return make()


def waiting(client, queue):
    """The waiting items, in the order they will be taken, checking the set mirrors them."""
    items = list(reversed(client.lrange(queue.name, 0, -1)))
    assert len(items) == len(set(items)), items
    assert client.smembers(queue.set_name) == set(items)
    return items


def held(client, queue):
    """The items in the consumer's processing list, oldest taken first."""
    return list(reversed(client.lrange(queue.processing_queue_name, 0, -1)))


def hold_twice(queue):
    """Make the consumer hold ``a`` twice (taken, added again, taken again)."""
    queue.add_item("a")
    queue.get_items(1)
    queue.add_item("a")
    queue.get_items(1)


def test_names(queue, name):
    """queue_name is the name and set_name is ``NAME-unique``, as in the original."""
    assert queue.queue_name == name
    assert queue.set_name == f"{name}-unique"


def test_add_of_waiting_item_does_nothing(queue, client):
    """Adding an item that is waiting leaves the count and the list unchanged."""
    queue.add_items(["a", "b"])
    queue.add_item("a")
    queue.add_items(["b", "a"])
    assert queue.get_count() == 2
    assert waiting(client, queue) == ["a", "b"]


def test_add_items_duplicates_in_batch(queue, client):
    """A batch with duplicates adds each item once, in first-occurrence order."""
    queue.add_items(["c", "a", "c", "b", "a"])
    assert waiting(client, queue) == ["c", "a", "b"]


def test_taken_item_may_be_added_again(queue, client):
    """Once taken, an item no longer counts as waiting and may be added again."""
    queue.add_item("a")
    assert queue.get_items(1) == ["a"]
    assert waiting(client, queue) == []
    queue.add_item("a")
    assert waiting(client, queue) == ["a"]


def test_reject_of_item_waiting_again_not_duplicated(queue, client):
    """Rejecting an item that was added again meanwhile leaves it waiting once."""
    queue.add_items(["a", "b"])
    queue.get_items(1)
    queue.add_item("a")
    queue.reject_item("a")
    assert waiting(client, queue) == ["b", "a"]
    assert not client.exists(queue.processing_queue_name, queue.timeouts_hash_name)


def test_reject_goes_first_and_into_set(queue, client):
    """Rejected items wait first in line, in the batch's order, and are in the set again."""
    queue.add_items(["a", "b", "c"])
    queue.get_items(2)
    queue.reject_items(["b", "a"])
    assert waiting(client, queue) == ["b", "a", "c"]


def test_reject_batch_with_duplicates_queues_once(queue, client):
    """Rejecting an item held twice, named twice in the batch, queues it once."""
    hold_twice(queue)
    queue.reject_items(["a", "a"])
    assert waiting(client, queue) == ["a"]
    assert not client.exists(queue.processing_queue_name)


def test_re_enqueue_moves_waiting_item_to_front(make, client):
    """Recovering a list with an item waiting again moves it to the front, not twice."""
    dead, live = make(), make()
    dead.add_items(["a", "b"])
    dead.get_items(1)
    dead.add_items(["c", "a"])
    assert waiting(client, dead) == ["b", "c", "a"]
    assert live.re_enqueue_all_items() == 1
    assert waiting(client, dead) == ["a", "b", "c"]
    assert not client.exists(dead.processing_queue_name, dead.timeouts_hash_name)


def test_re_enqueue_of_item_held_twice_queues_once(queue, client):
    """An item held twice goes back once."""
    hold_twice(queue)
    queue.add_item("b")
    assert queue.re_enqueue_all_items() == 1
    assert waiting(client, queue) == ["a", "b"]


def test_re_enqueue_timeout_items_keeps_uniqueness(make, client):
    """Recovering an expired consumer keeps every item waiting once."""
    dead, live = make(), make()
    dead.add_items(["a", "b", "c"])
    dead.get_items(2)
    dead.add_items(["b", "d"])
    seconds, _ = client.time()
    client.hset(dead.timeouts_hash_name, dead.processing_queue_name, seconds - 7201)
    assert live.re_enqueue_timeout_items() == 2
    assert waiting(client, live) == ["a", "b", "c", "d"]


def test_drop_leaves_waiting_items(make, client):
    """Dropping a consumer's items leaves the waiting items and the set alone."""
    dead, live = make(), make()
    dead.add_items(["a", "b"])
    dead.get_items(1)
    dead.add_item("a")
    assert live.drop_all_items() == 1
    assert waiting(client, live) == ["b", "a"]


def test_delete_items_removes_from_list_and_set(queue, client, name):
    """delete_items removes waiting items from the list and the set; others are ignored."""
    queue.add_items(["a", "b", "c"])
    queue.delete_items(["a", "c", "x", "a"])
    assert waiting(client, queue) == ["b"]
    queue.delete_item("b")
    assert data_keys(client.keys(f"{name}*")) == []


def test_delete_spares_items_held(queue, client):
    """Deleting an item that is held, not waiting, changes nothing."""
    queue.add_items(["a", "b"])
    queue.get_items(1)
    queue.delete_item("a")
    assert held(client, queue) == ["a"]
    assert waiting(client, queue) == ["b"]


@pytest.mark.parametrize("count", [0, 1, -1, 5])
def test_delete_takes_queues_count(queue, client, count):
    """delete_item(s) take Queue's count; an item waits at most once, so any count deletes it."""
    queue.add_items(["a", "b", "c"])
    queue.delete_item("a", count)
    queue.delete_items(["c"], count)
    assert waiting(client, queue) == ["b"]
    with pytest.raises(TypeError):
        queue.delete_items(["b"], 1.0)
    assert waiting(client, queue) == ["b"]


def test_many_distinct_items(queue, client):
    """Large batches (past the script's small-batch path) keep the list and the set equal."""
    items = [f"item-{i}" for i in range(100)]
    queue.add_items(items + items[:50])
    queue.delete_items(items[::2])
    assert waiting(client, queue) == items[1::2]
    taken = queue.get_items(30)
    queue.add_items(items)
    queue.reject_items(taken)
    assert sorted(waiting(client, queue)) == sorted(items)


def test_set_mirrors_waiting_items_at_every_step(make, client):
    """NAME-unique equals the set of waiting items after every operation."""
    first, second = make(), make()
    steps = [
        lambda: first.add_items(["a", "b", "c", "a"]),
        lambda: first.get_items(2),
        lambda: first.add_items(["a", "d"]),
        lambda: second.get_items(1),
        lambda: first.reject_items(["b", "a"]),
        lambda: second.add_item("c"),
        second.re_enqueue_all_items,
        lambda: first.get_items(3),
        lambda: first.ack_items(["a"]),
        lambda: first.delete_items(["d"]),
        first.re_enqueue_all_items,
    ]
    for step in steps:
        step()
        waiting(client, first)
    assert waiting(client, first) == ["c", "b"]


def test_bytes_items_with_raw_client(make, raw_client):
    """Non-UTF-8 bytes are unique by their bytes and come back unchanged."""
    queue = make(raw_client)
    queue.add_items([b"\xff\x00", b"\xff\x00", b"\xfe"])
    assert queue.get_count() == 2
    assert raw_client.smembers(queue.set_name) == {b"\xff\x00", b"\xfe"}
    assert queue.get_items(1) == [b"\xff\x00"]
    queue.add_item(b"\xff\x00")
    queue.reject_item(b"\xff\x00")
    assert queue.get_items(5) == [b"\xfe", b"\xff\x00"]
