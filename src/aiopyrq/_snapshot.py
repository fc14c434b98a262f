"""What a Queue, UniqueQueue or Pool holds right now: read for the command line and the metrics.

A synchronous client reads it, so that the Prometheus collector (called in the HTTP server's
thread) and the command line share this code. Nothing here writes. Ages are measured on the
Redis server's clock (``TIME``), as the scripts measure them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aiopyrq._keys import QueueKeys
from aiopyrq.errors import AiopyrqError

if TYPE_CHECKING:
    import redis

Kind = Literal["queue", "unique", "pool"]
KIND_NAMES: dict[Kind, str] = {"queue": "Queue", "unique": "UniqueQueue", "pool": "Pool"}

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


Snapshot = QueueSnapshot | PoolSnapshot


def text(value: object) -> str:
    """A reply as text, from a client that decodes or from one that does not."""
    if isinstance(value, bytes):
        return value.decode(errors="backslashreplace")
    return str(value)


def detect_kind(client: redis.Redis, name: str, forced: Kind | None = None) -> Kind:
    """Tell which structure ``name`` is from the types of its keys.

    A list (with its timeouts hash and dead letters) is a Queue, with the set ``NAME-unique``
    a UniqueQueue, a sorted set a Pool. An empty structure has no key at all: with
    ``forced``, absent keys read as an empty structure of that kind.

    Raises:
        UnknownNameError: No key of that name, and no kind forced.
        WrongTypeError: A key has a type that the structure (found or forced) does not use.
    """
    keys = QueueKeys(name)
    pipe = client.pipeline(transaction=False)
    for key in (keys.queue, keys.unique, keys.timeouts, keys.dead):
        pipe.type(key)
    main, unique, timeouts, dead = (text(reply) for reply in pipe.execute())
    kind = forced or _guess(main, unique, timeouts, dead)
    if kind is None:
        msg = f"no queue or pool named {name!r} (an empty one has no key: try --kind)"
        raise UnknownNameError(msg)
    expected = {keys.queue: "zset"} if kind == "pool" else {keys.queue: "list"}
    if kind != "pool":
        expected |= {keys.timeouts: "hash", keys.dead: "list"}
    if kind == "unique":
        expected[keys.unique] = "set"
    found = {keys.queue: main, keys.unique: unique, keys.timeouts: timeouts, keys.dead: dead}
    for key, wanted in expected.items():
        if found[key] not in {"none", wanted}:
            msg = f"{key!r} is a Redis {found[key]}, not the {wanted} of a {KIND_NAMES[kind]}"
            raise WrongTypeError(msg)
    return kind


def _guess(main: str, unique: str, timeouts: str, dead: str) -> Kind | None:
    if main == "zset":
        return "pool"
    if unique != "none":
        return "unique"
    if {main, timeouts, dead} == {"none"}:
        return None
    return "queue"


def read(client: redis.Redis, name: str, kind: Kind) -> Snapshot:
    """Read the structure ``name`` of the given kind (absent keys read as empty)."""
    if kind == "pool":
        return read_pool(client, name)
    return read_queue(client, name, kind)


def read_queue(client: redis.Redis, name: str, kind: Kind = "queue") -> QueueSnapshot:
    """Read a Queue or UniqueQueue: waiting items, consumers and their leases, dead letters."""
    keys = QueueKeys(name)
    pipe = client.pipeline(transaction=False)
    pipe.time()
    pipe.llen(keys.queue)
    pipe.llen(keys.dead)
    pipe.hgetall(keys.timeouts)
    (now, _), waiting, dead, leases = pipe.execute()
    lists = sorted(leases, key=text)
    pipe = client.pipeline(transaction=False)
    for processing in lists:
        pipe.llen(processing)
    sizes = pipe.execute() if lists else []
    prefix = keys.processing("")
    holders = []
    for processing, size in zip(lists, sizes, strict=True):
        lease = _number(leases[processing])
        list_name = text(processing)
        holders.append(
            Holder(
                consumer_id=list_name.removeprefix(prefix),
                processing_list=list_name,
                items=int(size),
                lease=lease,
                lease_age=None if lease is None else max(0.0, now - lease),
            )
        )
    return QueueSnapshot(name, kind, int(now), int(waiting), int(dead), tuple(holders))


def read_pool(client: redis.Redis, name: str) -> PoolSnapshot:
    """Read a Pool: items in all, due now, in flight (handed out, not acked, not overdue)."""
    now = int(client.time()[0])
    pipe = client.pipeline(transaction=False)
    pipe.zcard(name)
    pipe.zcount(name, "-inf", now)
    total, due = (int(reply) for reply in pipe.execute())
    flying = 0
    # Items not due follow the due ones: read them by rank, a page at a time.
    for start in range(due, total, _PAGE):
        page: list[tuple[Any, float]] = client.zrange(  # type: ignore[assignment]
            name, start, start + _PAGE - 1, withscores=True
        )
        flying += sum(in_flight(score) for _, score in page)
    return PoolSnapshot(name, now, total, due, flying)


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
