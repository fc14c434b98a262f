# Generated from tests/helpers.py by `make unasync`: do not edit.
"""What the integration tests share: item names, the server's clock, aged leases, waits, fleets.

Subprocess scripts the tests start live in ``tests/integration/procs`` (:data:`PROCS`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from aiopyrq._history import DAY, SLOTS

BOUND = 20  # seconds: the bound of a wait (reached at once when all goes well)
PROCS = Path(__file__).resolve().parent / "integration" / "procs"


def items_named(count: int, prefix: str = "item") -> list[str]:
    """``count`` distinct items: ``prefix-0``, ``prefix-1`` ..."""
    return [f"{prefix}-{i}" for i in range(count)]


def data_keys(keys) -> list:
    """The keys that hold a structure's data, sorted: without the replies of its calls.

    Every call that changes state leaves a key ``NAME-call-<id>`` holding its reply for a
    retry of the same call (deleted by later calls, expiring after a minute), and the
    scripts that count what they do keep ``NAME-history`` (expiring after a day).
    """
    return sorted(
        key for key in keys if "-call-" not in str(key) and not str(key).endswith("-history")
    )


def events(**counts: int | None) -> dict:
    """What ``history_totals`` gives when only these counts (and waiting) are not 0 (None)."""
    nothing = {"added": 0, "delivered": 0, "acked": 0, "failed": 0, "recovered": 0, "dead": 0}
    return {**nothing, "waiting": None, **counts}


def history_slot(minute: int, counts: dict[str, int]) -> dict[str, int]:
    """The fields of a minute's slot as the scripts write them (lua/includes/history.lua).

    ``counts``: a count per field letter (``a`` added, ``d``, ``k``, ``f``, ``r``, ``x``,
    ``w`` waiting), each stamped with the minute's day.
    """
    slot, stamp = minute % SLOTS, minute // SLOTS * DAY
    return {f"{slot}:{letter}": stamp + count for letter, count in counts.items()}


def history_totals(structure, minutes: int = 3) -> dict:
    """A structure's history over its last minutes (a test's all), each count added up.

    ``waiting`` is that of the latest minute that knows it.
    """
    history = structure.get_history(minutes)
    events = ("added", "delivered", "acked", "failed", "recovered", "dead")
    totals: dict = {event: sum(getattr(minute, event) for minute in history) for event in events}
    known = [minute.waiting for minute in history if minute.waiting is not None]
    return totals | {"waiting": known[-1] if known else None}


def waiting_in_shards(client, queue) -> Counter:
    """Every item waiting in a ShardedQueue's shards, counted."""
    found: Counter = Counter()
    for shard in queue.shards:
        found.update(client.lrange(shard.keys.queue, 0, -1))
    return found


def server_now(client) -> int:
    """The server's clock in whole unix seconds: the clock the scripts use."""
    seconds, _ = client.time()
    return seconds


def server_ms(client, key: str | None = None) -> int:
    """The server's clock in unix milliseconds (on a cluster: the master of key)."""
    if key is not None and hasattr(client, "get_node_from_key"):
        client.initialize()  # the slot map, for a client that has sent nothing yet
        node = client.get_node_from_key(key)
        seconds, micros = client.time(target_nodes=node)
    else:
        seconds, micros = client.time()
    return seconds * 1000 + micros // 1000


def age_lease(queue, seconds: int, client=None) -> None:
    """Make a consumer's last get or heartbeat look ``seconds`` old, as if time had passed.

    ``client`` is the queue's own client (``queue.redis``) unless given.
    """
    client = queue.redis if client is None else client
    now = server_now(client)
    client.hset(queue.timeouts_hash_name, queue.processing_queue_name, now - seconds)


def age_leases(queue, seconds: int) -> None:
    """Age the consumer's lease on every shard of a ShardedQueue."""
    for shard in queue.shards:
        age_lease(shard, seconds)
