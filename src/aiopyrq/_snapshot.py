"""What a Queue, UniqueQueue, Pool or sharded queue holds now: for the command line and metrics.

A synchronous client reads it, so that the Prometheus collector (called in the HTTP server's
thread) and the command line share this code. Nothing here writes. Ages are measured on the
Redis server's clock (``TIME``), as the scripts measure them. On a Redis Cluster
(a ``RedisCluster`` client) the keys are the hash-tagged ones the library uses there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import redis
import redis.cluster

from aiopyrq import _history
from aiopyrq._keys import QueueKeys, shard_keys, shard_names
from aiopyrq._types import KIND_NAMES, Kind
from aiopyrq.errors import AiopyrqError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

Client: TypeAlias = redis.Redis | redis.cluster.RedisCluster

_PAGE = 1000  # Pool members read per command when counting those in flight


class SnapshotError(AiopyrqError):
    """The name cannot be read as the structure asked for."""


class UnknownNameError(SnapshotError):
    """No key of a queue or pool of this name exists."""


class WrongTypeError(SnapshotError):
    """A key of this name holds a Redis type that no queue or pool uses there."""


@dataclass(frozen=True)
class Holder:
    """A consumer with a lease: its processing list and the age of its last sign of life."""

    consumer_id: str
    processing_list: str
    items: int
    lease: float | None  # unix seconds of its last get or heartbeat (server clock)
    lease_age: float | None  # seconds since then


@dataclass(frozen=True)
class QueueSnapshot:
    """A Queue or UniqueQueue at one instant of the server's clock."""

    name: str
    kind: Kind
    server_time: int
    waiting: int
    dead: int
    holders: tuple[Holder, ...]
    delayed: int = 0  # delayed items not yet due (due ones count as waiting)

    @property
    def in_flight(self) -> int:
        """Items held by consumers, taken and not yet acked or rejected."""
        return sum(holder.items for holder in self.holders)

    @property
    def oldest_lease_age(self) -> float | None:
        """Seconds since the most silent consumer holding items last renewed its lease."""
        ages = [h.lease_age for h in self.holders if h.items and h.lease_age is not None]
        return max(ages, default=None)

    def stale(self, older_than: int) -> list[Holder]:
        """The consumers whose lease is older than older_than seconds, as recovery decides."""
        return [
            holder
            for holder in self.holders
            if holder.lease is not None and math.floor(holder.lease) + older_than < self.server_time
        ]

    def to_json(self) -> dict[str, Any]:
        """The snapshot as JSON-ready data."""
        return {
            "name": self.name,
            "kind": self.kind,
            "server_time": self.server_time,
            "waiting": self.waiting,
            "oldest_waiting_age": None,  # a list keeps no times
            "in_flight": self.in_flight,
            "oldest_lease_age": self.oldest_lease_age,
            "dead": self.dead,
            "delayed": self.delayed,
            "consumers": [
                {
                    "id": holder.consumer_id,
                    "processing_list": holder.processing_list,
                    "items": holder.items,
                    "lease": holder.lease,
                    "lease_age": holder.lease_age,
                }
                for holder in self.holders
            ],
        }


@dataclass(frozen=True)
class PoolSnapshot:
    """A Pool at one instant of the server's clock."""

    name: str
    server_time: int
    total: int
    due: int
    in_flight: int

    kind: Kind = "pool"

    @property
    def scheduled(self) -> int:
        """Items neither due nor in flight: acknowledged, due again later."""
        return self.total - self.due - self.in_flight

    def to_json(self) -> dict[str, Any]:
        """The snapshot as JSON-ready data."""
        return {
            "name": self.name,
            "kind": self.kind,
            "server_time": self.server_time,
            "total": self.total,
            "due": self.due,
            "in_flight": self.in_flight,
            "scheduled": self.scheduled,
        }


@dataclass(frozen=True)
class ShardedSnapshot:
    """A sharded queue (ShardedQueue): its shards ``NAME:0``, ``NAME:1`` ... and their totals."""

    name: str
    kind: Kind
    shards: tuple[QueueSnapshot, ...]

    @property
    def server_time(self) -> int:
        """The latest server time of the shards read."""
        return max(shard.server_time for shard in self.shards)

    @property
    def waiting(self) -> int:
        """Items waiting in all shards."""
        return sum(shard.waiting for shard in self.shards)

    @property
    def dead(self) -> int:
        """Dead letters of all shards."""
        return sum(shard.dead for shard in self.shards)

    @property
    def delayed(self) -> int:
        """Delayed items not yet due, in all shards."""
        return sum(shard.delayed for shard in self.shards)

    @property
    def holders(self) -> tuple[Holder, ...]:
        """The consumers with a lease on each shard (a ShardedQueue is one Queue per shard)."""
        return tuple(holder for shard in self.shards for holder in shard.holders)

    @property
    def in_flight(self) -> int:
        """Items held by consumers, in all shards."""
        return sum(shard.in_flight for shard in self.shards)

    @property
    def oldest_lease_age(self) -> float | None:
        """The oldest lease of a consumer holding items, over all shards."""
        ages = [shard.oldest_lease_age for shard in self.shards]
        return max((age for age in ages if age is not None), default=None)

    def to_json(self) -> dict[str, Any]:
        """The totals as a Queue's JSON (each consumer with its shard), and each shard's."""
        shards = [shard.to_json() for shard in self.shards]
        return {
            "name": self.name,
            "kind": self.kind,
            "server_time": self.server_time,
            "waiting": self.waiting,
            "oldest_waiting_age": None,  # a list keeps no times
            "in_flight": self.in_flight,
            "oldest_lease_age": self.oldest_lease_age,
            "dead": self.dead,
            "delayed": self.delayed,
            "consumers": [
                {"shard": shard["name"], **consumer}
                for shard in shards
                for consumer in shard["consumers"]
            ],
            "shards": shards,
        }


Snapshot = QueueSnapshot | PoolSnapshot | ShardedSnapshot


@dataclass(frozen=True)
class Next:
    """An item at the head of a structure: the next to be handed out (a Pool's with its state)."""

    item: str
    due_in: float | None = None  # a Pool's: seconds until due, 0 or less when due
    in_flight: bool = False  # a Pool's: handed out, due again in due_in seconds


@dataclass(frozen=True)
class Target:
    """What a name stands for: a Queue, UniqueQueue or Pool, or the shards of a sharded queue."""

    name: str
    kind: Kind
    shards: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The structures that hold its items: the shards, or the structure itself."""
        return self.shards or (self.name,)


def connect(url: str, *, cluster: bool | None = None, **options: Any) -> Client:  # noqa: ANN401
    """A synchronous client of ``url``: a ``RedisCluster`` on a cluster node, else a ``Redis``.

    Args:
        url: The Redis URL.
        cluster: Whether the server is a Redis Cluster node; ``None``: ask it
            (``cluster_enabled`` in ``INFO cluster``). A user not allowed to run INFO gets
            a standalone client.
        **options: Options of the client.

    Returns:
        The client.

    Raises:
        ValueError: The URL is not a Redis URL.
    """
    client = redis.Redis.from_url(url, **options)
    if cluster is None:
        try:
            cluster = bool(client.info("cluster").get("cluster_enabled"))
        except redis.exceptions.NoPermissionError:
            cluster = False
        except BaseException:
            client.close()
            raise
    if not cluster:
        return client
    client.close()
    return redis.cluster.RedisCluster.from_url(url, **options)


def keys_of(client: Client, name: str) -> QueueKeys:
    """The keys of the structure ``name``, named as the library names them on this client."""
    return QueueKeys(name, cluster=isinstance(client, redis.cluster.RedisCluster))


def text(value: object) -> str:
    """A reply as text, from a client that decodes or from one that does not."""
    if isinstance(value, bytes):
        return value.decode(errors="backslashreplace")
    return str(value)


def resolve(
    client: Client, name: str, forced: Kind | None = None, shards: int | None = None
) -> Target:
    """Find what ``name`` stands for: the structure of its own keys, else a sharded queue.

    A name without any key of its own is looked for as a ShardedQueue: its shards are
    ``NAME:0`` up to the highest-numbered one with a key (found by SCAN).

    Args:
        client: The client.
        name: The name.
        forced: Read the structure, or each shard, as this kind (see ``detect_kind``).
        shards: The number of shards of the sharded queue ``name``: then nothing is searched.

    Returns:
        The structure, or the sharded queue.

    Raises:
        UnknownNameError: No key of that name nor of any shard, and no kind forced.
        WrongTypeError: A key has a type that the structure does not use there.
    """
    if shards is None:
        [(keys, found)] = _types(client, [name])
        shards = 0 if _exists(found) else count_shards(client, name)
        if not shards:
            return Target(name, _kind(keys, found, forced))
    return sharded(client, name, shards, forced)


def count_shards(client: Client, name: str) -> int:
    """One more than the highest number ``i`` of a shard ``NAME:i`` with a key; 0 if none."""
    glob, key_of_a_shard = shard_keys(name, cluster=keys_of(client, name).cluster)
    numbers = [
        int(match[1])
        for key in client.scan_iter(match=glob, count=1000)
        if (match := key_of_a_shard.fullmatch(text(key)))
    ]
    return max(numbers, default=-1) + 1


def sharded(client: Client, name: str, shards: int, forced: Kind | None = None) -> Target:
    """The sharded queue ``name`` of ``shards`` shards, of the kind their keys show.

    A shard that looks like a Queue belongs to a sharded UniqueQueue if another shard has
    the set of one (it has no item waiting). A shard without any key reads as empty.

    Returns:
        The sharded queue.

    Raises:
        UnknownNameError: No shard has a key, and no kind is forced.
        WrongTypeError: A shard is a Pool, or a key of a shard has the wrong type.
    """
    names = shard_names(name, shards)
    kinds = {
        keys.name: _kind(keys, found, forced)
        for keys, found in _types(client, names)
        if forced or _exists(found)
    }
    pools = [shard for shard, kind in kinds.items() if kind == "pool"]
    if pools:
        msg = f"{pools[0]!r} is a Pool: the shards of a sharded queue are Queues or UniqueQueues"
        raise WrongTypeError(msg)
    if not kinds:
        msg = (
            f"no queue or pool named {name!r}, nor shards {names[0]!r} to {names[-1]!r}"
            " (an empty one has no key: try --kind)"
        )
        raise UnknownNameError(msg)
    return Target(name, "unique" if "unique" in kinds.values() else "queue", names)


def detect_kind(client: Client, name: str, forced: Kind | None = None) -> Kind:
    """Tell which structure ``name`` is from the types of its keys.

    A list (with its timeouts hash, dead letters and delayed items) is a Queue, with the set
    ``NAME-unique`` a UniqueQueue, a sorted set a Pool; delayed items alone, a Queue. An
    empty structure has no key at all: with ``forced``, absent keys read as an empty
    structure of that kind.

    Raises:
        UnknownNameError: No key of that name, and no kind forced.
        WrongTypeError: A key has a type that the structure (found or forced) does not use.
    """
    [(keys, found)] = _types(client, [name])
    return _kind(keys, found, forced)


def kinds(client: Client, names: Sequence[str]) -> dict[str, Kind]:
    """The kind of each name that is a structure, found as ``detect_kind`` finds it.

    Names without any key, or with a key of a type no structure uses there (a string, a
    hash named like a queue ...), are left out. The types are read in one round trip.
    """
    found = {keys.name: _kind_or_none(keys, types) for keys, types in _types(client, names)}
    return {name: kind for name, kind in found.items() if kind is not None}


def _kind_or_none(keys: QueueKeys, found: dict[str, str]) -> Kind | None:
    try:
        return _kind(keys, found, None)
    except SnapshotError:
        return None


def _types(client: Client, names: Sequence[str]) -> list[tuple[QueueKeys, dict[str, str]]]:
    """For each name, its keys and the types of those that tell its kind, in one round trip."""
    every = [keys_of(client, name) for name in names]
    pipe = client.pipeline(transaction=False)
    for keys in every:
        for key in keys.kind_keys:
            pipe.type(key)
    replies = iter(pipe.execute())
    return [(keys, {key: text(next(replies)) for key in keys.kind_keys}) for keys in every]


def _exists(found: dict[str, str]) -> bool:
    return set(found.values()) != {"none"}


def _kind(keys: QueueKeys, found: dict[str, str], forced: Kind | None) -> Kind:
    """The kind of a structure from the types of its keys (see ``detect_kind``)."""
    kind = forced or _guess([found[key] for key in keys.kind_keys])
    if kind is None:
        msg = f"no queue or pool named {keys.name!r} (an empty one has no key: try --kind)"
        raise UnknownNameError(msg)
    expected = {keys.queue: "zset"} if kind == "pool" else {keys.queue: "list"}
    if kind != "pool":
        expected |= {keys.timeouts: "hash", keys.dead: "list", keys.delayed: "zset"}
        expected[keys.priority] = "zset"
    if kind == "unique":
        expected[keys.unique] = "set"
    for key, wanted in expected.items():
        if found[key] not in {"none", wanted}:
            msg = f"{key!r} is a Redis {found[key]}, not the {wanted} of a {KIND_NAMES[kind]}"
            raise WrongTypeError(msg)
    return kind


def _guess(types: Sequence[str]) -> Kind | None:
    """The kind told by the types of the keys of ``QueueKeys.kind_keys``, in their order."""
    main, unique, *others = types
    if main == "zset":
        return "pool"
    if unique != "none":
        return "unique"
    if {main, *others} == {"none"}:
        return None
    return "queue"


def read_target(client: Client, target: Target) -> Snapshot:
    """Read a structure or a sharded queue (absent keys read as empty)."""
    [snapshot] = read_targets(client, [target])
    return snapshot


def read_targets(client: Client, targets: Sequence[Target]) -> list[Snapshot]:
    """Read structures and sharded queues, in a few round trips for them all (``read_many``)."""
    parts = read_many(client, [(name, target.kind) for target in targets for name in target.names])
    read = iter(parts)
    snapshots: list[Snapshot] = []
    for target in targets:
        if target.shards:
            shards = tuple(_as_queue(next(read)) for _ in target.shards)
            snapshots.append(ShardedSnapshot(target.name, target.kind, shards))
        else:
            snapshots.append(next(read))
    return snapshots


def read(client: Client, name: str, kind: Kind) -> QueueSnapshot | PoolSnapshot:
    """Read the structure ``name`` of the given kind (absent keys read as empty)."""
    [snapshot] = read_many(client, [(name, kind)])
    return snapshot


def read_queue(client: Client, name: str, kind: Kind = "queue") -> QueueSnapshot:
    """Read a Queue or UniqueQueue: waiting items, consumers and their leases, dead letters."""
    return _as_queue(read(client, name, kind))


def read_pool(client: Client, name: str) -> PoolSnapshot:
    """Read a Pool: items in all, due now, in flight (handed out, not acked, not overdue)."""
    snapshot = read(client, name, "pool")
    if not isinstance(snapshot, PoolSnapshot):  # read gives a Pool's: never
        raise TypeError(snapshot)
    return snapshot


MEMBER_PREFIX = 20
"""Characters before the item in a Queue's delayed or prioritised member (lua/includes/member)."""


def head(client: Client, name: str, kind: Kind, count: int) -> list[Next]:
    """The next ``count`` items of a structure to be handed out, first first.

    A queue's prioritised items come first (those above the default level) or after its list
    (those below), as a get takes them (``lua/includes/priority``).
    """
    keys = keys_of(client, name)
    key = keys.queue
    if kind != "pool":
        listed = [text(item) for item in reversed(client.lrange(key, -count, -1))]
        ranked: list[tuple[Any, float]] = client.zrange(  # type: ignore[assignment]
            keys.priority, 0, count - 1, withscores=True
        )
        cut = 0 if kind == "unique" else MEMBER_PREFIX
        above = [text(member)[cut:] for member, score in ranked if score < 0]
        below = [text(member)[cut:] for member, score in ranked if score >= 0]
        return [Next(item) for item in [*above, *listed, *below][:count]]
    now = server_time(client, key)
    page: list[tuple[Any, float]] = client.zrange(key, 0, count - 1, withscores=True)  # type: ignore[assignment]
    return [Next(text(item), score - now, in_flight(score)) for item, score in page]


def server_time(client: Client, key: str) -> int:
    """The unix time, in seconds, on the server (on a cluster: the master) that holds key."""
    [now] = _clocks(client, [key])
    return now


def read_many(
    client: Client, structures: Sequence[tuple[str, Kind]]
) -> list[QueueSnapshot | PoolSnapshot]:
    """Read structures of known kinds (absent keys read as empty), in order.

    It takes one TIME per server (on a cluster: per master holding one), then two
    pipelines for them all: the counts (delayed items too) and leases, then the consumers'
    items and each Pool's first page of items not due. A Pool with more than a page of
    those takes a round trip per further page.
    """
    every = [(keys_of(client, name), kind) for name, kind in structures]
    clocks = _clocks(client, [keys.queue for keys, _ in every])
    pipe = client.pipeline(transaction=False)
    for (keys, kind), now in zip(every, clocks, strict=True):
        if kind == "pool":
            pipe.zcard(keys.queue)
            pipe.zcount(keys.queue, "-inf", now)
        else:
            pipe.llen(keys.queue)
            pipe.llen(keys.dead)
            pipe.hgetall(keys.timeouts)
            pipe.zcount(keys.delayed, "-inf", now * 1000)  # due: a get moves them to the list
            pipe.zcard(keys.delayed)
            pipe.zcard(keys.priority)
    replies = iter(pipe.execute() if every else [])
    counts = [[next(replies) for _ in range(2 if kind == "pool" else 6)] for _, kind in every]
    pipe, queued = client.pipeline(transaction=False), 0
    for (keys, kind), first in zip(every, counts, strict=True):
        if kind == "pool":
            total, due = int(first[0]), int(first[1])
            if due < total:  # items not due follow the due ones: read them by rank
                pipe.zrange(keys.queue, due, due + _PAGE - 1, withscores=True)
                queued += 1
        else:
            for processing in sorted(first[2], key=text):
                pipe.llen(processing)
                queued += 1
    more = iter(pipe.execute() if queued else [])
    return [
        _pool(client, keys, now, first, more)
        if kind == "pool"
        else _queue(keys, kind, now, first, more)
        for (keys, kind), now, first in zip(every, clocks, counts, strict=True)
    ]


def read_histories(
    client: Client, targets: Sequence[Target], minutes: int
) -> list[list[_history.HistoryMinute]]:
    """The history of each structure, or of a sharded queue's shards summed (``_history``).

    One TIME per server (on a cluster: per master holding one), then one HMGET per
    structure, pipelined.
    """
    _history.check_minutes(minutes)
    keys = [keys_of(client, name).history for target in targets for name in target.names]
    now = _clocks(client, keys)
    pipe = client.pipeline(transaction=False)
    for key, at in zip(keys, now, strict=True):
        pipe.hmget(key, _history.fields(at, minutes))
    replies = iter(pipe.execute() if keys else [])
    clocks = iter(now)
    histories = []
    for target in targets:
        parts = [_history.parse(next(clocks), next(replies)) for _ in target.names]
        histories.append(_history.summed(parts, minutes) if target.shards else parts[0])
    return histories


def _clocks(client: Client, keys: Sequence[str]) -> list[int]:
    """The unix time in seconds on the server of each key: one TIME per server."""
    if not isinstance(client, redis.cluster.RedisCluster):
        now = int(client.time()[0]) if keys else 0
        return [now for _ in keys]
    nodes = [client.get_node_from_key(key) for key in keys]  # type: ignore[no-untyped-call]
    times: dict[str, int] = {}
    for node in nodes:
        if node.name not in times:
            times[node.name] = int(client.time(target_nodes=node)[0])
    return [times[node.name] for node in nodes]


def _queue(
    keys: QueueKeys, kind: Kind, now: int, counts: list[Any], sizes: Iterator[Any]
) -> QueueSnapshot:
    """A queue's snapshot from its counts and leases, and its processing lists' sizes.

    Delayed items already due count as waiting: the next get moves them to the list; so do
    the prioritised items, waiting at their levels.
    """
    waiting, dead, leases, due, delayed, prioritised = counts
    prefix = keys.processing("")
    holders = []
    for processing in sorted(leases, key=text):
        lease = _number(leases[processing])
        list_name = text(processing)
        holders.append(
            Holder(
                consumer_id=list_name.removeprefix(prefix),
                processing_list=list_name,
                items=int(next(sizes)),
                lease=lease,
                lease_age=None if lease is None else max(0.0, now - lease),
            )
        )
    waiting = int(waiting) + int(due) + int(prioritised)
    delayed = int(delayed) - int(due)
    return QueueSnapshot(keys.name, kind, now, waiting, int(dead), tuple(holders), delayed)


def _pool(
    client: Client, keys: QueueKeys, now: int, counts: list[Any], pages: Iterator[Any]
) -> PoolSnapshot:
    """A Pool's snapshot from its counts and first page of items not due (the others read)."""
    total, due = int(counts[0]), int(counts[1])
    flying = 0
    for start in range(due, total, _PAGE):
        page: list[tuple[Any, float]] = (
            next(pages)
            if start == due
            else client.zrange(keys.queue, start, start + _PAGE - 1, withscores=True)  # type: ignore[assignment]
        )
        flying += sum(in_flight(score) for _, score in page)
    return PoolSnapshot(keys.name, now, total, due, flying)


def _as_queue(snapshot: QueueSnapshot | PoolSnapshot) -> QueueSnapshot:
    if not isinstance(snapshot, QueueSnapshot):
        msg = f"{snapshot.name!r} is read as a Pool, not as a Queue"
        raise WrongTypeError(msg)
    return snapshot


def in_flight(score: float) -> bool:
    """Tell whether a Pool score marks an item in flight: one with a fraction (``x.1``)."""
    return score - math.floor(score) > 0.01  # noqa: PLR2004 - the fraction is .1


def _number(value: object) -> float | None:
    """A lease stamp as a number (an int if it is whole), or None if it is not one."""
    try:
        number = float(text(value))
    except ValueError:
        return None
    return int(number) if number.is_integer() else number
