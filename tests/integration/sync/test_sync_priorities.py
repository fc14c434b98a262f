# Generated from tests/integration/test_priorities.py by `make unasync`: do not edit.
"""Priorities: ``add_items(…, priority=)`` on Queue, UniqueQueue and ShardedQueue.

A prioritised item waits in ``NAME-priority`` (a sorted set: level, then place in the level)
and its level in ``NAME-priorities`` while it is in the queue; an item added without a
priority stays in the list ``NAME``, where a consumer of the 4.x layout finds it.
"""

from __future__ import annotations

import time

import pytest

from aiopyrq.sync import Queue, ShardedQueue, UniqueQueue
from tests.sync_helpers import data_keys, events, history_totals, items_named

pytestmark = [pytest.mark.redis, pytest.mark.all_deployments]

KINDS = {"queue": Queue, "unique": UniqueQueue}


@pytest.mark.parametrize("kind", KINDS)
def test_higher_priorities_first_fifo_within_one(client, name, kind):
    """Items come out by level, the highest first, in their order within a level; the
    default level (no priority, or 0) between the positive and the negative ones."""
    queue = KINDS[kind](name, client)
    queue.add_items(["plain-1", "plain-2"])
    queue.add_items(["high-1", "high-2"], priority=5)
    queue.add_item("low-1", priority=-3)
    queue.add_item("top-1", priority=9)
    queue.add_item("zero-1", priority=0)
    queue.add_item("high-3", priority=5)
    queue.add_item("low-2", priority=-1)
    assert queue.get_count() == 9
    assert queue.get_items(2) == ["top-1", "high-1"]
    assert queue.get_items(1) == ["high-2"]
    assert queue.get_items(4) == ["high-3", "plain-1", "plain-2", "zero-1"]
    assert queue.get_items(10) == ["low-2", "low-1"]
    assert queue.get_count() == 0
    assert client.exists(queue.keys.priority) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_unprioritised_items_stay_in_the_list(client, name, kind):
    """Items added without a priority are in the list NAME, and only they: a 4.x consumer
    (RPOPLPUSH on NAME) takes them, and leaves the prioritised ones where they are."""
    queue = KINDS[kind](name, client)
    queue.add_items(["old-1", "old-2"])
    queue.add_items(["new-1", "new-2"], priority=1)
    assert client.lrange(queue.keys.queue, 0, -1) == ["old-2", "old-1"]
    old_consumer = queue.keys.processing("4.x")
    taken = [client.rpoplpush(queue.keys.queue, old_consumer) for _ in range(3)]
    assert taken == ["old-1", "old-2", None]
    assert queue.get_items(10) == ["new-1", "new-2"]


@pytest.mark.parametrize("kind", KINDS)
def test_reject_keeps_the_level(client, name, kind):
    """A rejected item goes back to the front of its level; with a delay, it waits, then
    goes to the back of its level."""
    queue = KINDS[kind](name, client)
    queue.add_items(["plain"])
    queue.add_items(["a", "b", "c"], priority=2)
    assert queue.get_items(2) == ["a", "b"]
    queue.reject_items(["b", "a"])
    assert queue.get_items(4) == ["b", "a", "c", "plain"]
    queue.reject_item("c", delay=0.2)
    queue.reject_items(["plain", "a", "b"])
    time.sleep(0.3)
    assert queue.get_items(10) == ["a", "b", "c", "plain"]
    queue.ack_items(["a", "b", "c", "plain"])
    assert client.hlen(queue.keys.priorities) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_recovery_keeps_the_level(client, name, kind):
    """A consumer's items go back to the front of their levels, its oldest taken next."""
    queue = KINDS[kind](name, client)
    queue.add_items(["plain-1", "plain-2"])
    queue.add_items(items_named(3, "high"), priority=4)
    queue.add_items(items_named(2, "low"), priority=-4)
    assert queue.get_items(10) == [
        *items_named(3, "high"), "plain-1", "plain-2", *items_named(2, "low")
    ]
    queue.add_item("high-late", priority=4)
    assert queue.re_enqueue_all_items() == 7
    rescuer = KINDS[kind](name, client)
    assert rescuer.get_items(10) == [
        *items_named(3, "high"), "high-late", "plain-1", "plain-2", *items_named(2, "low")
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_ack_and_death_forget_the_level(client, name, kind):
    """The levels hash keeps an item's level until it is acknowledged or dies."""
    queue = KINDS[kind](name, client, max_deliveries=1)
    queue.add_items(items_named(4), priority=3)
    assert client.hlen(queue.keys.priorities) == 4
    taken = queue.get_items(4)
    assert client.hlen(queue.keys.priorities) == 4
    queue.ack_items(taken[:2])
    assert client.hlen(queue.keys.priorities) == 2
    assert queue.reject_items(taken[2:]) == 2
    assert queue.get_dead_items() == taken[2:]
    assert client.hlen(queue.keys.priorities) == 0
    queue.requeue_dead_items()
    assert client.lrange(queue.keys.queue, 0, -1) == list(reversed(taken[2:]))


def test_unique_item_waiting_is_not_added_again(client, name):
    """An item waiting at any level (or none) is not added again, at the same or another."""
    queue = UniqueQueue(name, client)
    queue.add_item("x", priority=2)
    queue.add_item("x", priority=2)
    queue.add_item("x", priority=7)
    queue.add_item("x")
    queue.add_items(["y", "y"], priority=1)
    queue.add_item("z")
    queue.add_item("z", priority=9)
    assert queue.get_count() == 3
    assert queue.get_items(10) == ["x", "y", "z"]
    queue.add_item("x", priority=1)  # taken: it may come again
    assert queue.get_items(10) == ["x"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("priority", "error"),
    [(True, TypeError), ("1", TypeError), (1.0, TypeError), (10, ValueError), (-10, ValueError)],
)
def test_bad_priority_refused_before_any_write(client, name, kind, priority, error):
    queue = KINDS[kind](name, client)
    with pytest.raises(error, match="priority"):
        queue.add_items(["a"], priority=priority)
    with pytest.raises(error, match="priority"):
        queue.add_item("a", delay=1, priority=priority)
    assert data_keys(client.keys(f"*{name}*")) == []


@pytest.mark.parametrize("kind", KINDS)
def test_delayed_item_enters_its_level_when_due(client, name, kind):
    queue = KINDS[kind](name, client)
    queue.add_item("later", delay=0.2, priority=6)
    queue.add_items(["plain"])
    assert queue.get_count() == 1
    time.sleep(0.3)
    assert queue.get_items(10) == ["later", "plain"]


def test_sharded_queue_passes_the_priority(client, name):
    queue = ShardedQueue(name, client, shards=2)
    queue.add_items(items_named(6, "plain"))
    queue.add_items(items_named(6, "high"), priority=8)
    levels = [client.zcard(shard.keys.priority) for shard in queue.shards]
    assert sum(levels) == 6
    assert queue.get_count() == 12
    for shard in queue.shards:  # each shard's get: its prioritised items first
        taken = shard.get_items(12)
        high = [item for item in taken if item.startswith("high")]
        assert taken[: len(high)] == high
        assert len(taken) > len(high)
    with pytest.raises(ValueError, match="priority"):
        queue.add_item("x", priority=11)


def test_unique_delete_deletes_a_prioritised_item(client, name):
    """A UniqueQueue's delete_items deletes an item waiting at its level, and its level."""
    queue = UniqueQueue(name, client)
    queue.add_items(["a", "b"], priority=4)
    queue.add_items(["c"])
    queue.delete_items(["a", "c"])
    assert queue.get_count() == 1
    assert client.hkeys(queue.keys.priorities) == ["b"]
    assert queue.get_items(10) == ["b"]
    queue.add_item("a")  # deleted: it may come again, at the default level now
    assert client.lrange(queue.keys.queue, 0, -1) == ["a"]


@pytest.mark.parametrize("kind", KINDS)
def test_dropped_items_forget_their_level(client, name, kind):
    queue = KINDS[kind](name, client)
    queue.add_items(items_named(3), priority=-5)
    assert len(queue.get_items(10)) == 3
    assert queue.drop_all_items() == 3
    assert client.hlen(queue.keys.priorities) == 0
    assert data_keys(client.keys(f"*{name}*")) == []


@pytest.mark.parametrize("kind", KINDS)
def test_limits_hold_for_prioritised_items(client, name, kind):
    """At the in-flight cap a get takes nothing, prioritised items waiting or not."""
    queue = KINDS[kind](name, client, max_in_flight=2)
    queue.add_items(["plain"])
    queue.add_items(items_named(3, "high"), priority=1)
    assert queue.get_items(10) == ["high-0", "high-1"]
    assert queue.get_items(10) == []
    queue.ack_item("high-0")
    assert queue.get_items(10) == ["high-2"]
    queue.reject_item("high-1")
    assert queue.get_items(10) == ["high-1"]


@pytest.mark.parametrize("kind", KINDS)
def test_history_counts_prioritised_items(client, name, kind):
    """The history counts prioritised items added, delivered, failed, and waiting."""
    queue = KINDS[kind](name, client)
    queue.add_items(["plain"])
    queue.add_items(items_named(4), priority=2)
    assert queue.get_items(2) == ["item-0", "item-1"]
    assert (history_totals(queue))["waiting"] == 3
    queue.reject_items(["item-0"])
    assert history_totals(queue) == events(added=5, delivered=2, failed=1, waiting=4)
