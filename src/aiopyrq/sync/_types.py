# Generated from src/aiopyrq/_types.py by `make unasync`: do not edit.
"""What every structure is to the rest of the library: its items, its kind and its contract.

The Consumer, the command line, the metrics and the read model (``_snapshot``) talk to a
structure through ``Consumable`` and its ``kind`` only, never through its class. A new
structure is one module and its Lua, implementing ``Consumable``, plus one ``register``
call (see CONTRIBUTING.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from aiopyrq._history import HistoryMinute

Item = str | bytes | int | float
"""What an item may be. Items come back as ``str``, or ``bytes`` when the client does not
decode responses."""

Kind = Literal["queue", "unique", "pool"]
"""How a structure keeps its items in Redis: a Queue's list, a UniqueQueue's list and set,
a Pool's sorted set. A sharded queue is of its shards' kind."""

KIND_NAMES: dict[Kind, str] = {"queue": "Queue", "unique": "UniqueQueue", "pool": "Pool"}
"""The class that keeps its items as each kind does, by name."""


@runtime_checkable
class Consumable(Protocol):
    """What the Consumer, the command line, the metrics and the read model need of a structure.

    Queue, UniqueQueue, ShardedQueue and Pool implement it. A structure without leases
    (``leases`` False: a Pool) has nothing to release, renew or recover, and no dead
    letters: those methods do nothing and return 0 (or nothing) there.
    """

    @property
    def name(self) -> str:
        """The structure's name."""

    @property
    def kind(self) -> Kind:
        """How it keeps its items (a sharded queue: as its shards do)."""

    @property
    def leases(self) -> bool:
        """Whether taken items wait under a consumer's lease until acked or rejected.

        True: they are in the consumer's processing list, renewed by ``heartbeat``, given
        back by ``release``, ``reject_items`` or recovery. False (a Pool): an item taken and
        not acked is due again after a time of the structure's own.
        """

    @property
    def shard_names(self) -> tuple[str, ...]:
        """The names of the structures that hold its items, if not itself (a sharded queue)."""

    def get_count(self) -> int:
        """Return the number of items waiting (a Pool: in it)."""

    def get_items(self, count: int, wait: float | None = None) -> list[Any]:
        """Take up to count items, waiting up to ``wait`` seconds for one."""

    def ack_items(self, items: Iterable[Item]) -> None:
        """Acknowledge taken items."""

    def reject_items(
        self,
        items: Iterable[Item],
        delay: float | Callable[[int], float] | None = None,
        *,
        reason: str | None = None,
    ) -> int:
        """Give taken items back (after delay seconds); return how many went to the dead letters.

        ``delay`` may be a function of an item's failed deliveries that returns seconds;
        ``reason`` is kept with the items that go to the dead letters.
        """

    def release(self) -> int:
        """Give back every item this consumer holds; return how many."""

    def heartbeat(self) -> None:
        """Renew this consumer's lease."""

    def recover(self, lease_timeout: int = 30, interval: float = 5.0) -> int:
        """Give back the items of consumers whose lease is stale, one recoverer at a time."""

    def re_enqueue_timeout_items(self, timeout: int = ...) -> int:
        """Give back the items of consumers whose lease is older than timeout."""

    def drop_timeout_items(self, timeout: int = ...) -> int:
        """Delete the items of consumers whose lease is older than timeout."""

    def get_history(self, minutes: int = 60) -> list[HistoryMinute]:
        """Return what it went through in each of the last minutes, the oldest first."""

    def get_dead_count(self) -> int:
        """Return the number of dead letters."""

    def get_dead_items(self, count: int = 100, *, details: bool = False) -> list[Any]:
        """Return up to count dead letters (``DeadLetter`` records with details), in place."""

    def requeue_dead_items(self, items: Iterable[Item] | None = None) -> int:
        """Queue dead letters again (``None``: all); return how many."""

    def purge_dead_items(self) -> int:
        """Delete every dead letter; return how many."""
