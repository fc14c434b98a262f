"""What only UniqueQueue does: an item waits at most once, NAME-unique mirrors the queue."""

from __future__ import annotations

import pytest

from aiopyrq import UniqueQueue
from tests.helpers import data_keys

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


async def waiting(client, queue):
    """The waiting items, in the order they will be taken, checking the set mirrors them."""
    items = list(reversed(await client.lrange(queue.name, 0, -1)))
    assert len(items) == len(set(items)), items
    assert await client.smembers(queue.set_name) == set(items)
    return items


async def held(client, queue):
    """The items in the consumer's processing list, oldest taken first."""
    return list(reversed(await client.lrange(queue.processing_queue_name, 0, -1)))


async def hold_twice(queue):
    """Make the consumer hold ``a`` twice (taken, added again, taken again)."""
    await queue.add_item("a")
    await queue.get_items(1)
    await queue.add_item("a")
    await queue.get_items(1)


def test_names(queue, name):
    """queue_name is the name and set_name is ``NAME-unique``, as in the original."""
    assert queue.queue_name == name
    assert queue.set_name == f"{name}-unique"


async def test_add_of_waiting_item_does_nothing(queue, client):
    """Adding an item that is waiting leaves the count and the list unchanged."""
    await queue.add_items(["a", "b"])
    await queue.add_item("a")
    await queue.add_items(["b", "a"])
    assert await queue.get_count() == 2
    assert await waiting(client, queue) == ["a", "b"]


async def test_add_items_duplicates_in_batch(queue, client):
    """A batch with duplicates adds each item once, in first-occurrence order."""
    await queue.add_items(["c", "a", "c", "b", "a"])
    assert await waiting(client, queue) == ["c", "a", "b"]


async def test_taken_item_may_be_added_again(queue, client):
    """Once taken, an item no longer counts as waiting and may be added again."""
    await queue.add_item("a")
    assert await queue.get_items(1) == ["a"]
    assert await waiting(client, queue) == []
    await queue.add_item("a")
    assert await waiting(client, queue) == ["a"]


async def test_reject_of_item_waiting_again_not_duplicated(queue, client):
    """Rejecting an item that was added again meanwhile leaves it waiting once."""
    await queue.add_items(["a", "b"])
    await queue.get_items(1)
    await queue.add_item("a")
    await queue.reject_item("a")
    assert await waiting(client, queue) == ["b", "a"]
    assert not await client.exists(queue.processing_queue_name, queue.timeouts_hash_name)


async def test_reject_goes_first_and_into_set(queue, client):
    """Rejected items wait first in line, in the batch's order, and are in the set again."""
    await queue.add_items(["a", "b", "c"])
    await queue.get_items(2)
    await queue.reject_items(["b", "a"])
    assert await waiting(client, queue) == ["b", "a", "c"]


async def test_reject_batch_with_duplicates_queues_once(queue, client):
    """Rejecting an item held twice, named twice in the batch, queues it once."""
    await hold_twice(queue)
    await queue.reject_items(["a", "a"])
    assert await waiting(client, queue) == ["a"]
    assert not await client.exists(queue.processing_queue_name)


async def test_re_enqueue_moves_waiting_item_to_front(make, client):
    """Recovering a list with an item waiting again moves it to the front, not twice."""
    dead, live = make(), make()
    await dead.add_items(["a", "b"])
    await dead.get_items(1)
    await dead.add_items(["c", "a"])
    assert await waiting(client, dead) == ["b", "c", "a"]
    assert await live.re_enqueue_all_items() == 1
    assert await waiting(client, dead) == ["a", "b", "c"]
    assert not await client.exists(dead.processing_queue_name, dead.timeouts_hash_name)


async def test_re_enqueue_of_item_held_twice_queues_once(queue, client):
    """An item held twice goes back once."""
    await hold_twice(queue)
    await queue.add_item("b")
    assert await queue.re_enqueue_all_items() == 1
    assert await waiting(client, queue) == ["a", "b"]


async def test_re_enqueue_timeout_items_keeps_uniqueness(make, client):
    """Recovering an expired consumer keeps every item waiting once."""
    dead, live = make(), make()
    await dead.add_items(["a", "b", "c"])
    await dead.get_items(2)
    await dead.add_items(["b", "d"])
    seconds, _ = await client.time()
    await client.hset(dead.timeouts_hash_name, dead.processing_queue_name, seconds - 7201)
    assert await live.re_enqueue_timeout_items() == 2
    assert await waiting(client, live) == ["a", "b", "c", "d"]


async def test_drop_leaves_waiting_items(make, client):
    """Dropping a consumer's items leaves the waiting items and the set alone."""
    dead, live = make(), make()
    await dead.add_items(["a", "b"])
    await dead.get_items(1)
    await dead.add_item("a")
    assert await live.drop_all_items() == 1
    assert await waiting(client, live) == ["b", "a"]


async def test_delete_items_removes_from_list_and_set(queue, client, name):
    """delete_items removes waiting items from the list and the set; others are ignored."""
    await queue.add_items(["a", "b", "c"])
    await queue.delete_items(["a", "c", "x", "a"])
    assert await waiting(client, queue) == ["b"]
    await queue.delete_item("b")
    assert data_keys(await client.keys(f"{name}*")) == []


async def test_delete_spares_items_held(queue, client):
    """Deleting an item that is held, not waiting, changes nothing."""
    await queue.add_items(["a", "b"])
    await queue.get_items(1)
    await queue.delete_item("a")
    assert await held(client, queue) == ["a"]
    assert await waiting(client, queue) == ["b"]


@pytest.mark.parametrize("count", [0, 1, -1, 5])
async def test_delete_takes_queues_count(queue, client, count):
    """delete_item(s) take Queue's count; an item waits at most once, so any count deletes it."""
    await queue.add_items(["a", "b", "c"])
    await queue.delete_item("a", count)
    await queue.delete_items(["c"], count)
    assert await waiting(client, queue) == ["b"]
    with pytest.raises(TypeError):
        await queue.delete_items(["b"], 1.0)
    assert await waiting(client, queue) == ["b"]


async def test_many_distinct_items(queue, client):
    """Large batches (past the script's small-batch path) keep the list and the set equal."""
    items = [f"item-{i}" for i in range(100)]
    await queue.add_items(items + items[:50])
    await queue.delete_items(items[::2])
    assert await waiting(client, queue) == items[1::2]
    taken = await queue.get_items(30)
    await queue.add_items(items)
    await queue.reject_items(taken)
    assert sorted(await waiting(client, queue)) == sorted(items)


async def test_set_mirrors_waiting_items_at_every_step(make, client):
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
        await step()
        await waiting(client, first)
    assert await waiting(client, first) == ["c", "b"]


async def test_bytes_items_with_raw_client(make, raw_client):
    """Non-UTF-8 bytes are unique by their bytes and come back unchanged."""
    queue = make(raw_client)
    await queue.add_items([b"\xff\x00", b"\xff\x00", b"\xfe"])
    assert await queue.get_count() == 2
    assert await raw_client.smembers(queue.set_name) == {b"\xff\x00", b"\xfe"}
    assert await queue.get_items(1) == [b"\xff\x00"]
    await queue.add_item(b"\xff\x00")
    await queue.reject_item(b"\xff\x00")
    assert await queue.get_items(5) == [b"\xfe", b"\xff\x00"]
