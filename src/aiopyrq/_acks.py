"""The Consumer's acks, one item at a time: gathered, and sent one call at a time.

Handlers that return put their item here (``add``); one task sends what has gathered in one
``ack_items`` call, and what returns while that call runs waits for the next one. While
handlers still run, a call waits up to ``LINGER`` seconds for a batch to gather, so that
handlers that each wait a little do not cost one call per item. An item is added only once
its handler has returned: no item is acked before.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

LINGER = 0.002
"""Seconds a call waits for more items while handlers run, unless a batch has gathered."""


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
        send: Callable[[list[Any]], Awaitable[bool]],
        batch_size: int,
        more_coming: Callable[[], bool],
        settled: Callable[[list[Any], bool], None],
    ) -> None:
        self.send, self.batch_size = send, batch_size
        self.more_coming, self.settled = more_coming, settled
        self._items: list[Any] = []  # handled, not in a call yet
        self._sending = 0  # the items of the call under way
        self._wanted = asyncio.Event()  # an item to ack
        self._full = asyncio.Event()  # a batch to ack, or the linger is over
        self._closing = False  # no item will be added any more

    @property
    def pending(self) -> int:
        """Items handled and not acked yet (gathering, or in the call under way)."""
        return len(self._items) + self._sending

    def add(self, item: Any) -> None:  # noqa: ANN401 - an item
        """Ack the item of a handler that returned (soon, with others)."""
        self._items.append(item)
        self._wanted.set()
        if len(self._items) >= self.batch_size:
            self._full.set()

    def close(self) -> None:
        """No more items: send what is left (at once) and let ``run`` return."""
        self._closing = True
        self._wanted.set()
        self._full.set()

    async def run(self) -> None:
        """Send the gathered items, one call at a time, until closed and all sent."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._items:
                if self._closing:
                    return
                self._wanted.clear()
                await self._wanted.wait()
                continue
            if len(self._items) < self.batch_size and not self._closing and self.more_coming():
                self._full.clear()
                linger = loop.call_later(LINGER, self._full.set)
                await self._full.wait()
                linger.cancel()
            items, self._items = self._items, []
            self._sending = len(items)
            sent = False
            try:
                sent = await self.send(items)
            finally:
                self._sending = 0
                self.settled(items, sent)
