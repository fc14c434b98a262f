"""Move a hash slot of a :class:`~tests.harness.ClusterServers` from one master to another.

The migration is done the way ``redis-cli --cluster reshard`` does it, in steps a client can
run into: the slot is opened (``IMPORTING`` on the target, ``MIGRATING`` on the source), its
keys are moved in small batches (``CLUSTER GETKEYSINSLOT`` and ``MIGRATE ... KEYS``) with a
pause between batches, so that clients meet ``ASK`` and ``TRYAGAIN`` replies for a noticeable
time, and the slot is then given to the target on every master (``CLUSTER SETSLOT NODE``).
It returns once every running node agrees on the new owner.

Example:
    >>> migration = migrate_slot(cluster, 1234, cluster.masters[2])  # doctest: +SKIP
    >>> migrate_slot(cluster, 1234, migration.source)  # and back  # doctest: +SKIP

:meth:`ClusterServers.master_of` keeps telling the slot ranges the cluster was built with,
and :meth:`ClusterServers.wait_until_up` expects them: move a slot back before relying on
either. :func:`owner_of` tells who serves a slot now. Synchronous, like the rest of the
harness: an asyncio test runs it in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis

if TYPE_CHECKING:
    from tests.harness.servers import ClusterServers, RedisServer

_CLIENT_TIMEOUT = 5.0  # seconds: a MIGRATE of a batch waits on the target
_MIGRATE_TIMEOUT_MS = 5000
_POLL_INTERVAL = 0.05


class MigrationError(Exception):
    """A slot could not be moved as asked, or the nodes did not agree in time."""


@dataclass(frozen=True)
class Migration:
    """What one :func:`migrate_slot` did.

    Attributes:
        slot: The hash slot moved.
        source: The master that served it before.
        target: The master that serves it now.
        keys: How many keys were moved.
        batches: How many ``MIGRATE`` commands moved them.
        seconds: How long the slot was open (from ``IMPORTING`` to the last ``SETSLOT``).
    """

    slot: int
    source: RedisServer
    target: RedisServer
    keys: int
    batches: int
    seconds: float


def _ask(server: RedisServer, *args: str | int | bytes) -> Any:  # a raw reply
    """Send one command to a server; replies as bytes (key names are not all text)."""
    with redis.Redis(
        server.host,
        server.port,
        socket_timeout=_CLIENT_TIMEOUT,
        socket_connect_timeout=_CLIENT_TIMEOUT,
    ) as client:
        return client.execute_command(*args)


def _node_id(server: RedisServer) -> str:
    return bytes(_ask(server, "CLUSTER", "MYID")).decode()


def owner_of(cluster: ClusterServers, slot: int, asked: RedisServer | None = None) -> RedisServer:
    """The master that serves a slot, as a node sees it.

    Args:
        cluster: The cluster.
        slot: The hash slot, ``0..16383``.
        asked: The node to ask; default the first running master.

    Returns:
        The master serving the slot.

    Raises:
        MigrationError: No master of the cluster serves the slot, as that node sees it.
    """
    asked = asked or next(master for master in cluster.masters if master.running)
    for first, last, (_host, port, *_), *_replicas in _ask(asked, "CLUSTER", "SLOTS"):
        if first <= slot <= last:
            for master in cluster.masters:
                if master.port == port:
                    return master
    msg = f"no master of {cluster!r} serves slot {slot}, as {asked!r} sees it"
    raise MigrationError(msg)


def migrate_slot(  # noqa: PLR0913 - each is a knob of the migration
    cluster: ClusterServers,
    slot: int,
    target: RedisServer,
    *,
    spread: float = 1.5,
    pause: float = 0.1,
    timeout: float = 30.0,
) -> Migration:
    """Move a hash slot, with its keys, from the master serving it to ``target``.

    The keys found at the start are moved in about ``spread / pause`` batches, ``pause``
    seconds apart; keys that reach the slot meanwhile (a client can still create keys in it)
    go in further batches, until the slot holds none on the source.

    Args:
        cluster: The cluster.
        slot: The hash slot, ``0..16383``.
        target: The master to serve it; not the one serving it now.
        spread: About how long, in seconds, the keys take to move.
        pause: Seconds between two batches.
        timeout: The bound, in seconds, of the whole migration, the nodes' agreement included.

    Returns:
        What was moved, and how long the slot was open.

    Raises:
        MigrationError: ``target`` is not a master of the cluster or serves the slot already;
            a batch did not move; the slot was still open, or the nodes disagreed on its
            owner, after ``timeout``.
    """
    source = owner_of(cluster, slot)
    if target not in cluster.masters or target is source:
        msg = f"{target!r} is not a master of {cluster!r} other than {source!r}"
        raise MigrationError(msg)
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    source_id, target_id = _node_id(source), _node_id(target)
    _ask(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    _ask(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
    steps = max(1, round(spread / pause))
    size = max(1, math.ceil(int(_ask(source, "CLUSTER", "COUNTKEYSINSLOT", slot)) / steps))
    keys = batches = 0
    while moved := _move_batch(source, target, slot, size):
        keys, batches = keys + moved, batches + 1
        if time.monotonic() > deadline:
            msg = f"slot {slot} still had keys on {source!r} after {timeout:.1f} s"
            raise MigrationError(msg)
        time.sleep(pause)
    # The target first, then the source (which stops redirecting with ASK), then the others:
    # the order redis-cli follows, so that no node sends clients back and forth.
    others = [m for m in cluster.masters if m not in (source, target) and m.running]
    for master in [target, source, *others]:
        _ask(master, "CLUSTER", "SETSLOT", slot, "NODE", target_id)
    seconds = time.monotonic() - started
    _wait_for_agreement(cluster, slot, target, deadline)
    return Migration(slot, source, target, keys, batches, seconds)


def _move_batch(source: RedisServer, target: RedisServer, slot: int, size: int) -> int:
    """Move up to ``size`` keys of the slot from source to target.

    Returns:
        How many keys were moved: 0 once the slot holds none on the source.

    Raises:
        MigrationError: ``MIGRATE`` did not answer OK (a key exists on the target already).
    """
    keys = _ask(source, "CLUSTER", "GETKEYSINSLOT", slot, size)
    if not keys:
        return 0
    reply = _ask(
        source, "MIGRATE", target.host, target.port, "", 0, _MIGRATE_TIMEOUT_MS, "KEYS", *keys
    )
    # NOKEY: the keys were deleted (or expired) since GETKEYSINSLOT; nothing left to move.
    if reply not in (b"OK", b"NOKEY", True):
        msg = f"MIGRATE of {len(keys)} keys of slot {slot} answered {reply!r}"
        raise MigrationError(msg)
    return len(keys)


def _wait_for_agreement(
    cluster: ClusterServers, slot: int, target: RedisServer, deadline: float
) -> None:
    """Wait until every running node says ``target`` serves the slot and none has it open.

    Raises:
        MigrationError: Some node still disagreed at the deadline.
    """
    while True:
        wrong = _disagreement(cluster, slot, target)
        if wrong is None:
            return
        if time.monotonic() > deadline:
            msg = f"slot {slot} not settled on {target!r}: {wrong}"
            raise MigrationError(msg)
        time.sleep(_POLL_INTERVAL)


def _disagreement(cluster: ClusterServers, slot: int, target: RedisServer) -> str | None:
    """Which running node does not see ``target`` as the slot's settled owner, or None."""
    for node in cluster.nodes:
        if not node.running:
            continue
        try:
            owner = owner_of(cluster, slot, asked=node)
            nodes = bytes(_ask(node, "CLUSTER", "NODES")).decode()
        except (redis.RedisError, MigrationError) as exc:
            return f"{node!r}: {exc}"
        if owner is not target:
            return f"{node!r} sees {owner!r} serving it"
        if f"[{slot}-" in nodes:
            return f"{node!r} still has slot {slot} open"
    return None
