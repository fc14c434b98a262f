"""The history: per-minute counts that the scripts keep in ``NAME-history`` as they work.

Each count is checked on each structure, on every deployment, summed over the last few
minutes (a test may cross a minute's end). The ring of 1,440 slots is checked through its
Lua include itself, run by a script of this module at minutes of its choosing: the server's
clock cannot be moved a day on.
"""

from __future__ import annotations

import asyncio

import pytest

from aiopyrq import HistoryMinute, Pool, Queue, ShardedQueue, UniqueQueue, _scripts
from aiopyrq._history import SLOTS
from tests.helpers import age_lease, events, history_totals, items_named, server_now

pytestmark = [pytest.mark.redis, pytest.mark.all_deployments]

KINDS = {"queue": Queue, "unique": UniqueQueue}


@pytest.mark.parametrize("kind", KINDS)
async def test_added_delivered_acked(client, name, kind):
    """Adds, gets and acks count their items; waiting is the queue's length after the last."""
    queue = KINDS[kind](name, client)
    await queue.add_items(items_named(5))
    taken = await queue.get_items(3)
    await queue.ack_items(taken[:2])
    await queue.ack_items(["never-taken"])  # acks nothing: counts nothing
    assert await history_totals(queue) == events(added=5, delivered=3, acked=2, waiting=2)


async def test_unique_adds_of_items_waiting_are_not_counted(client, name):
    """A UniqueQueue counts as added only the items it did not hold already (delayed too)."""
    queue = UniqueQueue(name, client)
    await queue.add_items(["a", "b", "a"])
    await queue.add_items(["b", "c"])
    await queue.add_items(["c", "d"], delay=60)
    await queue.add_items(["d", "e"])
    totals = await history_totals(queue)
    assert totals == events(added=5, waiting=totals["waiting"])
    assert totals["waiting"] in (2, 3, 4)  # as the minute's first add saw them (a minute may end)


@pytest.mark.parametrize("kind", KINDS)
async def test_delayed_items_count_as_added_when_added(client, name, kind):
    """A delayed add counts at once; its items are not delivered before they are due."""
    queue = KINDS[kind](name, client)
    await queue.add_items(["now"])
    await queue.add_items(["later-1", "later-2"], delay=60)
    assert await queue.get_items(10) == ["now"]
    assert await history_totals(queue) == events(added=3, delivered=1, waiting=0)


async def test_empty_gets_write_nothing(client, name):
    """A get that takes nothing, and an empty structure, leave no history."""
    queue = Queue(name, client)
    assert await queue.get_items(5) == []
    assert await client.exists(queue.keys.history) == 0
    history = await queue.get_history(3)
    assert [(m.added, m.delivered, m.waiting) for m in history] == [(0, 0, None)] * 3


async def test_pool_counts(client, name):
    """A Pool counts new items as added, each hand-out as delivered, acks and removes as acked.

    An item handed out again after its ack_ttl ran out counts as failed.
    """
    pool = Pool(name, client, ack_ttl=1)
    await pool.add_items(["a", "b", "c"])
    await pool.add_items(["a", "d"])  # a is in the pool already: only d is new
    taken = await pool.get_items(3)
    await pool.ack_items(taken[:1])
    await pool.remove_items(taken[1:2])
    assert await history_totals(pool) == events(added=4, delivered=3, acked=2, waiting=1)
    await asyncio.sleep(2.2)  # the third item's ack_ttl runs out: it is due again
    again = await pool.get_items(3)
    assert set(again) == {taken[2], *({"a", "b", "c", "d"} - set(taken))}
    assert await history_totals(pool) == events(added=4, delivered=5, acked=2, failed=1, waiting=0)


async def test_sharded_queue_sums_its_shards(client, name):
    """A ShardedQueue's history is its shards' added up, waiting too."""
    sharded = ShardedQueue(name, client, shards=3)
    await sharded.add_items(items_named(9))
    await sharded.ack_items(await sharded.get_items(4))
    totals = await history_totals(sharded)
    assert totals == events(added=9, delivered=4, acked=4, waiting=5)
    shards = [await history_totals(shard) for shard in sharded.shards]
    assert sum(shard["added"] for shard in shards) == 9
    assert sum(1 for shard in shards if shard["added"]) == 3


@pytest.mark.parametrize("make", [Queue, UniqueQueue, Pool, ShardedQueue])
async def test_history_shape(client, name, make):
    """Exactly the minutes asked for, a minute apart, the last the server's current one."""
    structure = make(name, client, shards=2) if make is ShardedQueue else make(name, client)
    await structure.add_items(["x"])
    before = await server_now(client)
    history = await structure.get_history(60)
    after = await server_now(client)
    assert len(history) == 60
    assert all(isinstance(minute, HistoryMinute) for minute in history)
    starts = [minute.start for minute in history]
    assert starts == list(range(starts[0], starts[0] + 60 * 60, 60))
    assert before // 60 * 60 <= starts[-1] <= after // 60 * 60
    assert sum(minute.added for minute in history) == 1
    assert [minute for minute in history if minute.added == 0 and minute.waiting is None]
    assert len(await structure.get_history()) == 60
    assert len(await structure.get_history(1440)) == 1440
    assert len(await structure.get_history(1)) == 1


@pytest.mark.parametrize("make", [Queue, UniqueQueue, Pool, ShardedQueue])
@pytest.mark.parametrize(
    ("minutes", "error"),
    [
        (0, ValueError),
        (1441, ValueError),
        (-1, ValueError),
        ("5", TypeError),
        (True, TypeError),
        (2.0, TypeError),
    ],
)
async def test_minutes_out_of_range_refused_before_any_call(make, minutes, error):
    """minutes from 1 to 1440, an int: else an error, before Redis is asked anything."""
    import redis.asyncio  # noqa: PLC0415

    nowhere = redis.asyncio.Redis(port=1)  # nothing listens there: a call would fail otherwise
    structure = make("nowhere", nowhere, shards=2) if make is ShardedQueue else make("x", nowhere)
    with pytest.raises(error, match="minutes"):
        await structure.get_history(minutes)
    await nowhere.aclose()


# A script that runs the history's include at minutes of its own: ARGV[1] the first minute,
# ARGV[2] how many minutes, each one write of ARGV[4] items of the event ARGV[3] and, if
# ARGV[5] is not empty, that many waiting. Returns how many of the writes were the first of
# their count in their minute.
RING = """\
local rcall = redis.call
--- @include "includes/history"
local first, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local fresh = 0
for minute = first, first + count - 1 do
  local opened = history_at(KEYS[1], minute)
  if history_write(opened, { [ARGV[3]] = tonumber(ARGV[4]) }, tonumber(ARGV[5])) then
    fresh = fresh + 1
  end
end
return fresh
"""


def ring_source() -> str:
    """RING with the real includes expanded, as the loader expands a script's."""
    real = _scripts._read
    return _scripts.expand("ring", lambda path: RING if path == "ring" else real(path))


async def write_minutes(client, key, minutes: range, waiting=None, **count):
    """Write each minute of ``minutes`` through RING: one count (``added=1``), and waiting."""
    [(event, n)] = (count or {"added": 1}).items()
    args = [minutes.start, len(minutes), event, n, "" if waiting is None else waiting]
    return await client.eval(ring_source(), 1, key, *args)


def one(minute: int) -> range:
    return range(minute, minute + 1)


async def test_ring_holds_one_day_at_most(client, name):
    """Written through three days of minutes, the ring keeps 1,440 slots, and expires."""
    queue = Queue(name, client)
    key = queue.keys.history
    now_minute = await server_now(client) // 60
    first = now_minute - 3 * SLOTS + 1
    assert await write_minutes(client, key, range(first, now_minute + 1), waiting=0) == 3 * SLOTS
    fields = await client.hkeys(key)
    assert len(fields) == 2 * SLOTS  # each slot's added and waiting, overwritten each day
    assert {field.split(":")[0] for field in fields} == {str(slot) for slot in range(SLOTS)}
    assert 24 * 3600 * 1000 < await client.pttl(key) <= 25 * 3600 * 1000
    history = await queue.get_history(1440)
    assert [minute.added for minute in history] == [1] * 1440
    assert history[0].start == first * 60 + 2 * SLOTS * 60


async def test_a_minute_a_day_old_is_not_returned(client, name):
    """A slot written a day ago (or more) reads as a minute without activity."""
    queue = Queue(name, client)
    key = queue.keys.history
    now_minute = await server_now(client) // 60
    await write_minutes(client, key, one(now_minute - SLOTS), waiting=70, added=7)  # this slot
    await write_minutes(client, key, one(now_minute - SLOTS + 1), waiting=50, added=5)  # oldest
    await write_minutes(client, key, one(now_minute - 2 * SLOTS - 5), waiting=90, added=9)
    history = await queue.get_history(1440)
    assert history[0] == HistoryMinute((now_minute - SLOTS + 1) * 60, added=5, waiting=50)
    assert sum(minute.added for minute in history) == 5
    if await server_now(client) // 60 == now_minute:  # this minute's slot: a day old still
        assert history[-1] == HistoryMinute(now_minute * 60)


async def test_a_new_minute_forgets_what_its_slot_held(client, name):
    """A minute reads none of the counts an older day's same minute left in its slot."""
    queue = Queue(name, client)
    key = queue.keys.history
    minute = await server_now(client) // 60 - 30
    await write_minutes(client, key, one(minute - SLOTS), waiting=8, failed=3)
    await write_minutes(client, key, one(minute - SLOTS), dead=2)
    assert await write_minutes(client, key, one(minute), acked=4) == 1
    history = await queue.get_history(60)
    assert HistoryMinute(minute * 60, acked=4) in history
    assert sum(m.failed + m.dead for m in history) == 0
    assert await write_minutes(client, key, one(minute), failed=1) == 1  # not 3 + 1
    assert HistoryMinute(minute * 60, acked=4, failed=1) in await queue.get_history(60)


async def test_writes_of_one_minute_add_up(client, name):
    """Writes within a minute add to its slot; waiting is set with a count's first write."""
    queue = Queue(name, client)
    key = queue.keys.history
    minute = await server_now(client) // 60 - 10
    assert await write_minutes(client, key, one(minute), waiting=20, added=2) == 1
    assert await write_minutes(client, key, one(minute), waiting=30, added=3) == 0
    assert await write_minutes(client, key, one(minute), acked=1) == 1  # acked's first
    assert await write_minutes(client, key, one(minute), waiting=99, dead=0) == 0  # no write
    assert await write_minutes(client, key, one(minute), waiting=40, failed=1) == 1  # failed's
    history = await queue.get_history(20)
    assert HistoryMinute(minute * 60, added=5, acked=1, failed=1, waiting=40) in history


@pytest.mark.parametrize("kind", KINDS)
async def test_rejects_count_as_failed_and_dead(client, name, kind):
    """Each item rejected counts as failed; each that goes to the dead letters as dead too."""
    queue = KINDS[kind](name, client, max_deliveries=2)
    await queue.add_items(["a", "b", "c"])
    assert await queue.reject_items(await queue.get_items(3)) == 0
    assert await queue.reject_items(["never-taken"]) == 0  # held by nobody: counts nothing
    assert await history_totals(queue) == events(added=3, delivered=3, failed=3, waiting=3)
    taken = await queue.get_items(2)
    assert await queue.reject_items(taken, delay=60) == 2  # their second failed delivery
    assert await history_totals(queue) == events(added=3, delivered=5, failed=5, dead=2, waiting=1)


@pytest.mark.parametrize("kind", KINDS)
async def test_recovery_counts_failed_recovered_and_dead(client, name, kind):
    """Recovering a stale consumer: its items failed (lease expired) and were put back, or
    died; re_enqueue_all_items and release put items back without a failure."""
    queue = KINDS[kind](name, client, max_deliveries=2)
    await queue.add_items(items_named(6))
    stale = KINDS[kind](name, client, max_deliveries=2)
    assert len(await stale.get_items(3)) == 3
    await age_lease(stale, 600)
    assert await queue.re_enqueue_timeout_items(300) == 3
    assert await history_totals(queue) == events(
        added=6, delivered=3, failed=3, recovered=3, waiting=6
    )
    dying = KINDS[kind](name, client, max_deliveries=1)
    assert len(await dying.get_items(2)) == 2
    await age_lease(dying, 600)
    assert await dying.re_enqueue_timeout_items(300) == 2  # max_deliveries=1: both die
    assert await history_totals(queue) == events(
        added=6, delivered=5, failed=5, recovered=3, dead=2, waiting=4
    )
    live = KINDS[kind](name, client)
    assert len(await live.get_items(2)) == 2
    assert await live.release() == 2
    assert await history_totals(queue) == events(
        added=6, delivered=7, failed=5, recovered=5, dead=2, waiting=4
    )


async def test_sharded_rejects_and_recovery_sum_their_shards(client, name):
    """A ShardedQueue's failures and recoveries are its shards', added up."""
    sharded = ShardedQueue(name, client, shards=2)
    await sharded.add_items(items_named(4))
    await sharded.reject_items(await sharded.get_items(2))
    assert len(await sharded.get_items(2)) == 2
    assert await sharded.release() == 2
    assert await history_totals(sharded) == events(
        added=4, delivered=4, failed=2, recovered=2, waiting=4
    )
