# Generated from src/aiopyrq/_unique_queue.py by `make unasync`: do not edit.
"""UniqueQueue: a Queue in which an item waits at most once."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from aiopyrq import _scripts
from aiopyrq.sync._base import check_items
from aiopyrq.sync._queue import Queue, check_count

if TYPE_CHECKING:
    from collections.abc import Iterable

    from aiopyrq.sync._types import Item, Kind


class UniqueQueue(Queue):
    """A Queue in which an item waits at most once.

    Adding an item that is already waiting does nothing; once taken, it may be added
    again. A rejected or recovered item that is waiting again meanwhile is not queued
    twice. The waiting items are also kept in the set ``NAME-unique``. A delayed item
    counts as waiting: adding it again while it is delayed does nothing.

    Takes the same arguments as Queue.
    """

    kind: ClassVar[Kind] = "unique"

    _get: ClassVar[_scripts.Script] = _scripts.load("unique_get-11", keys=8)
    _get_limited: ClassVar[_scripts.Script] = _scripts.load("unique_get-11")
    _reject: ClassVar[_scripts.Script] = _scripts.load("unique_reject-13", keys=11)
    _reject_capped: ClassVar[_scripts.Script] = _scripts.load("unique_reject-13")
    _recover_list: ClassVar[_scripts.Script] = _scripts.load("unique_recover-13")
    _prioritize: ClassVar[_scripts.Script] = _scripts.load("unique_prioritize-5")
    _delay: ClassVar[_scripts.Script] = _scripts.load("unique_delay-3")
    _requeue_dead: ClassVar[_scripts.Script] = _scripts.load("unique_requeue-5")
    _add_unique: ClassVar[_scripts.Script] = _scripts.load("unique_add-3")
    _delete_unique: ClassVar[_scripts.Script] = _scripts.load("unique_delete-5")

    @property
    def queue_name(self) -> str:
        """The queue's name (the original UniqueQueue's attribute)."""
        return self.name

    @property
    def set_name(self) -> str:
        """The set of the items waiting in the queue."""
        return self.keys.unique

    def _queue_keys(self) -> list[str]:
        return [self.keys.queue, self.keys.unique]

    def _delay_keys(self) -> list[str]:
        return [self.keys.unique, self.keys.delayed, self.keys.history]

    def _prioritize_keys(self) -> list[str]:
        return [self.keys.unique, *super()._prioritize_keys()]

    def _recover_keys(self, processing: str) -> list[str]:
        return [*self._return_keys(processing), self.keys.delayed]

    def add_items(
        self, items: Iterable[Item], delay: float | None = None, *, priority: int | None = None
    ) -> None:
        """Add the items that are not waiting already (nor delayed), in their order.

        ``delay``, ``priority``: as for Queue; an item delayed counts as waiting meanwhile,
        and an item waiting at any priority is not added again (at another either).

        Raises:
            TypeError: An item is not str, bytes, int or float, delay not a number, or
                priority not an int.
            ValueError: delay is negative, infinite or NaN, or priority out of range.
        """
        super().add_items(items, delay, priority=priority)

    def _add_now(self, chunk: list[Item]) -> None:
        keys = [*self._queue_keys(), self.keys.history]
        self._script(self._add_unique, keys, [self._pack(chunk)], items=len(chunk))

    def delete_item(self, item: Item, count: int = 0) -> None:
        """Delete an item from the queue (``count`` as for Queue: it waits at most once)."""
        self.delete_items([item], count)

    def delete_items(self, items: Iterable[Item], count: int = 0) -> None:
        """Delete items from the queue in one script call.

        Args:
            items: The items.
            count: Accepted as Queue accepts it (an int); an item waits at most once in a
                unique queue, so every count deletes it.
        """
        checked = check_items(items)
        check_count(count)
        if checked:
            args = [self._pack(checked)]
            keys = [*self._queue_keys(), self.keys.delayed, *self._level_keys()]
            self._script(self._delete_unique, keys, args, items=len(checked))


