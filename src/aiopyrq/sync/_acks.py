"""The sync Consumer's acks, one item at a time: gathered, and sent one call at a time.

The thread twin of ``aiopyrq._acks`` (read it for why): handlers that return put their item
here (``add``); one thread sends what has gathered in one ``ack_items`` call, and what
returns while that call runs waits for the next one. While handlers still run, a call waits
up to ``LINGER`` seconds for a batch to gather.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from aiopyrq._acks import LINGER

if TYPE_CHECKING:
    from collections.abc import Callable


class Acks:
    """The items whose handlers returned, until they are acked.

    Args:
        send: Acks a list of items; returns False if it gave up (the consumer stops).
        batch_size: How many items make a call worth sending at once.
        more_coming: Whether handlers run or items wait for one (then a call lingers).
        settled: Called with the items of each call once it is done.
    """

    def __init__(
        self,
        send: Callable[[list[Any]], bool],
        batch_size: int,
        more_coming: Callable[[], bool],
        settled: Callable[[list[Any], bool], None],
    ) -> None:
        self.send, self.batch_size = send, batch_size
        self.more_coming, self.settled = more_coming, settled
        self._items: list[Any] = []  # handled, not in a call yet
        self._sending = 0  # the items of the call under way
        self._changed = threading.Condition()
        self._closing = False  # no item will be added any more

    @property
    def pending(self) -> int:
        """Items handled and not acked yet (gathering, or in the call under way)."""
        return len(self._items) + self._sending

    def add(self, item: Any) -> None:  # noqa: ANN401 - an item
        """Ack the item of a handler that returned (soon, with others)."""
        with self._changed:
            self._items.append(item)
            self._changed.notify_all()

    def close(self) -> None:
        """No more items: send what is left (at once) and let ``run`` return."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()

    def run(self) -> None:
        """Send the gathered items, one call at a time, until closed and all sent."""
        while True:
            with self._changed:
                while not self._items and not self._closing:
                    self._changed.wait()
                if not self._items:
                    return
                self._linger()
                items, self._items = self._items, []
                self._sending = len(items)
            sent = False
            try:
                sent = self.send(items)
            finally:
                with self._changed:
                    self._sending = 0
                self.settled(items, sent)

    def _linger(self) -> None:
        """While handlers run, wait up to LINGER for a batch to gather (the lock held)."""
        deadline = time.monotonic() + LINGER
        while len(self._items) < self.batch_size and not self._closing and self.more_coming():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._changed.wait(left)
