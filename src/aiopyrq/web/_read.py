"""What the dashboard shows and does, with the synchronous client (in Starlette's threads).

The counts come from the read model of ``aiopyrq ls`` and ``stats`` (``_listing``,
``_snapshot``); the actions and the history from the ``aiopyrq.sync`` structures, so that
the dashboard changes Redis only through the library's scripts. Items are shown cut to
``ITEM_CHARS`` characters, and only the first few of each list.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aiopyrq import _listing, _snapshot, sync
from aiopyrq._keys import shard_of
from aiopyrq._types import KIND_NAMES
from aiopyrq.cli import age, pool_state

if TYPE_CHECKING:
    from aiopyrq.sync._types import Consumable

ITEM_CHARS = 120  # an item longer than this is cut
HEAD = 20  # items shown at the head of a structure (of each shard: HEAD // shards, at least 5)
HELD = 5  # items shown per consumer
DEAD = 50  # dead letters shown (of each shard)
HISTORY_MINUTES = 60


def cut(item: object, limit: int = ITEM_CHARS) -> str:
    """An item as text, cut to limit characters (an ellipsis marks the cut)."""
    value = _snapshot.text(item)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def find(client: _snapshot.Client, pattern: str = "*") -> list[_snapshot.Target]:
    """Every structure whose name matches pattern, as ``aiopyrq ls`` finds them (SCAN)."""
    return _listing.find(client, pattern)


def overview(client: _snapshot.Client, targets: list[_snapshot.Target]) -> list[dict[str, Any]]:
    """One row per structure (``aiopyrq ls``), with its class's name."""
    return [_row(snapshot) for snapshot in _snapshot.read_targets(client, targets)]


def _row(snapshot: _snapshot.Snapshot) -> dict[str, Any]:
    row = _listing.row(snapshot)
    return row | {"kind_name": KIND_NAMES[snapshot.kind]}


def structure(client: _snapshot.Client, name: str, *, items: bool = True) -> dict[str, Any]:
    """One structure: its counts, consumers, history; with ``items``, its head and dead letters.

    Raises:
        UnknownNameError: No structure of that name.
        WrongTypeError: A key of that name is not of a structure.
    """
    target = _snapshot.resolve(client, name)
    snapshot = _snapshot.read_target(client, target)
    data = _row(snapshot) | {"server_time": snapshot.server_time}
    if isinstance(snapshot, _snapshot.PoolSnapshot):
        data |= {"total": snapshot.total, "scheduled": snapshot.scheduled, "holders": []}
    else:
        data["holders"] = _holders(client, snapshot)
    data["history"] = _history(client, target)
    if items:
        data["head"] = _head(client, target)
        data["dead_items"] = _dead(client, target, snapshot.server_time)
    return data


def _shards(snapshot: _snapshot.QueueSnapshot | _snapshot.ShardedSnapshot) -> tuple[Any, ...]:
    if isinstance(snapshot, _snapshot.ShardedSnapshot):
        return snapshot.shards
    return (snapshot,)


def _holders(
    client: _snapshot.Client, snapshot: _snapshot.QueueSnapshot | _snapshot.ShardedSnapshot
) -> list[dict[str, Any]]:
    """The consumers with a lease, their lease age and first held items."""
    rows = [(shard.name, holder) for shard in _shards(snapshot) for holder in shard.holders]
    pipe = client.pipeline(transaction=False)
    for _, holder in rows:
        pipe.lrange(holder.processing_list, -HELD, -1)  # the oldest taken is last
    held = pipe.execute() if rows else []
    sharded = isinstance(snapshot, _snapshot.ShardedSnapshot)
    return [
        {
            "id": holder.consumer_id,
            "shard": _shard(shard) if sharded else None,
            "items": holder.items,
            "lease_age": holder.lease_age,
            "lease": age(holder.lease_age),
            "held": [cut(item) for item in reversed(items)],
        }
        for (shard, holder), items in zip(rows, held, strict=True)
    ]


def _shard(name: str) -> int | None:
    """The number of the shard ``name`` (``orders:2``: 2)."""
    found = shard_of(name)
    return found[1] if found else None


def _head(client: _snapshot.Client, target: _snapshot.Target) -> list[dict[str, Any]]:
    each = max(5, HEAD // len(target.names))
    return [
        {
            "shard": _shard(name) if target.shards else None,
            "item": cut(next_item.item),
            "state": None if next_item.due_in is None else pool_state(next_item),
        }
        for name in target.names
        for next_item in _snapshot.head(client, name, target.kind, each)
    ]


def _dead(client: _snapshot.Client, target: _snapshot.Target, now: int) -> list[dict[str, Any]]:
    """The first dead letters of each queue, with why, when and after how many deliveries."""
    if target.kind == "pool":
        return []
    rows = []
    for name in target.names:
        queue = _structure(client, _snapshot.Target(name, target.kind))
        rows += [
            {
                "shard": _shard(name) if target.shards else None,
                "item": cut(letter.item),
                "reason": None if letter.reason is None else cut(letter.reason),
                "reason_full": letter.reason,
                "died": None if letter.died_at is None else age(now - letter.died_at),
                "deliveries": letter.deliveries,
                "consumer": letter.consumer,
            }
            for letter in queue.get_dead_items(DEAD, details=True)
        ]
    return rows


def _history(client: _snapshot.Client, target: _snapshot.Target) -> list[dict[str, Any]]:
    """The structure's last hour, minute by minute, the oldest first."""
    history = _structure(client, target).get_history(minutes=HISTORY_MINUTES)
    return [asdict(minute) for minute in history]


def _structure(client: _snapshot.Client, target: _snapshot.Target) -> Consumable:
    """The ``aiopyrq.sync`` structure a target stands for."""
    if target.shards:
        return sync.ShardedQueue(
            target.name, client, shards=len(target.shards), unique=target.kind == "unique"
        )
    makers: dict[str, type[sync.Queue | sync.UniqueQueue | sync.Pool]]
    makers = {"queue": sync.Queue, "unique": sync.UniqueQueue, "pool": sync.Pool}
    return makers[target.kind](target.name, client)


# Actions: each a preview (what it would do, changing nothing) and the action itself.


def preview(client: _snapshot.Client, action: str, name: str, older_than: int) -> dict[str, Any]:
    """What an action would do now, as ``--dry-run`` tells it on the command line."""
    target = _queue_target(client, name)
    if action == "requeue-stale":
        snapshots = [_snapshot.read_queue(client, shard, target.kind) for shard in target.names]
        stale = [(each.name, h) for each in snapshots for h in each.stale(older_than)]
        return {
            "count": sum(holder.items for _, holder in stale),
            "consumers": [
                {
                    "id": holder.consumer_id,
                    "shard": _shard(shard) if target.shards else None,
                    "items": holder.items,
                    "lease": age(holder.lease_age),
                }
                for shard, holder in stale
            ],
        }
    keys = [_snapshot.keys_of(client, shard).dead for shard in target.names]
    return {"count": sum(int(client.llen(key)) for key in keys), "consumers": []}


def act(client: _snapshot.Client, action: str, name: str, older_than: int) -> int:
    """Do the action on each queue of the structure; return how many items it moved."""
    target = _queue_target(client, name)
    total = 0
    for shard in target.names:
        queue = _structure(client, _snapshot.Target(shard, target.kind))
        if action == "requeue-stale":
            total += queue.re_enqueue_timeout_items(older_than)
        elif action == "requeue-dead":
            total += queue.requeue_dead_items()
        else:
            total += queue.purge_dead_items()
    return total


def _queue_target(client: _snapshot.Client, name: str) -> _snapshot.Target:
    target = _snapshot.resolve(client, name)
    if target.kind == "pool":
        msg = f"{name!r} is a Pool: it has no dead letters and no leases"
        raise _snapshot.WrongTypeError(msg)
    return target
