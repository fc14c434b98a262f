"""Durability as one value, and the contract every structure keeps, without Redis."""

from __future__ import annotations

import dataclasses

import pytest
from redis.asyncio import Redis

from aiopyrq import Consumer, Durability, Pool, Queue, ShardedQueue, UniqueQueue
from aiopyrq._types import Consumable

STRUCTURES = {
    "Queue": Queue,
    "UniqueQueue": UniqueQueue,
    "Pool": Pool,
    "ShardedQueue": lambda name, client, **options: ShardedQueue(name, client, shards=2, **options),
}


@pytest.fixture(params=list(STRUCTURES))
def make(request):
    """Make a structure of each kind on a client that never connects."""
    return lambda **options: STRUCTURES[request.param]("q", Redis(), **options)


def durability_of(structure):
    """What the structure's writes wait for (a ShardedQueue's: its shards')."""
    shards = getattr(structure, "shards", [structure])
    found = {shard._durability for shard in shards}
    assert len(found) == 1
    return found.pop()


@pytest.mark.parametrize(
    ("options", "durability"),
    [
        ({"synced_slaves_enabled": True}, Durability(replicas=0)),
        (
            {"synced_slaves_enabled": True, "synced_slaves_count": 2, "synced_slaves_timeout": 500},
            Durability(replicas=2, timeout_ms=500),
        ),
        ({"fsync_local": True}, Durability(fsync_local=True)),
        ({"fsync_replicas": 1}, Durability(fsync_replicas=1)),
        (
            {"fsync_local": True, "fsync_replicas": 2, "synced_slaves_timeout": 50},
            Durability(fsync_local=True, fsync_replicas=2, timeout_ms=50),
        ),
    ],
)
def test_options_and_value_are_the_same(make, options, durability):
    """The keyword options and durability= make the same waits, as the original options did."""
    assert durability_of(make(**options)) == durability
    assert durability_of(make(durability=durability)) == durability


@pytest.mark.parametrize(
    "options",
    [{}, {"synced_slaves_count": 3}, {"fsync_replicas": 0}, {"fsync_local": False}],
)
def test_waiting_for_nothing_is_no_durability(make, options):
    """Options that wait for nothing, as Durability() does, leave the writes unwaited."""
    assert durability_of(make(**options)) is None
    assert durability_of(make(durability=Durability())) is None


@pytest.mark.parametrize(
    "option",
    [
        {"synced_slaves_enabled": False},
        {"synced_slaves_count": 1},
        {"synced_slaves_timeout": 100},
        {"fsync_local": True},
        {"fsync_replicas": 0},
    ],
)
def test_durability_with_an_option_refused(make, option):
    """durability= together with any of the five options is a TypeError naming it."""
    with pytest.raises(TypeError, match=next(iter(option))):
        make(durability=Durability(replicas=1), **option)


def test_durability_of_wrong_type_refused(make):
    """durability= takes an aiopyrq.Durability only."""
    with pytest.raises(TypeError, match="Durability"):
        make(durability={"replicas": 1})


def test_commands():
    """The commands sent after a write: WAIT, then WAITAOF, each with the timeout."""
    value = Durability(replicas=1, fsync_local=True, fsync_replicas=2, timeout_ms=300)
    assert value.commands() == [("WAIT", 1, 300), ("WAITAOF", 1, 2, 300)]
    assert Durability(fsync_local=True).commands() == [("WAITAOF", 1, 0, 100)]
    assert Durability().commands() == []


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"replicas": -1}, ValueError),
        ({"replicas": "1"}, TypeError),
        ({"replicas": True}, TypeError),
        ({"fsync_local": 1}, TypeError),
        ({"fsync_replicas": -1}, ValueError),
        ({"timeout_ms": 0}, ValueError),
        ({"timeout_ms": 1.5}, TypeError),
    ],
)
def test_bad_fields_refused(fields, error):
    """A field of the wrong type or out of range raises at once."""
    with pytest.raises(error, match=next(iter(fields))):
        Durability(**fields)


def test_frozen():
    """A Durability cannot change once made."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        Durability().replicas = 1  # type: ignore[misc]


def test_every_structure_keeps_the_contract(make):
    """Each structure is a Consumable, of a kind, with or without leases."""
    structure = make()
    assert isinstance(structure, Consumable)
    assert structure.kind in {"queue", "unique", "pool"}
    assert structure.leases == (structure.kind != "pool")


def test_consumer_refuses_what_keeps_no_contract():
    """A Consumer of an object without the contract's methods is a TypeError."""

    async def handler(item):
        del item

    with pytest.raises(TypeError, match="structure"):
        Consumer(object(), handler)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="structure"):
        Consumer(Redis(), handler)  # type: ignore[arg-type]


def test_sharded_names_and_kind():
    """A ShardedQueue's shards are NAME:0 ...; its kind is its shards'."""
    assert ShardedQueue("q", Redis(), shards=3).shard_names == ("q:0", "q:1", "q:2")
    assert ShardedQueue("q", Redis(), shards=1, unique=True).kind == "unique"
    assert Queue("q", Redis()).shard_names == ()
