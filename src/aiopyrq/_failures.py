"""How the Consumer logs handler failures: the item and its error, repeats counted, not flooded.

A handler that fails on every item of a busy queue (a downstream service down) would write
one traceback per item. Each failure is logged with its item (its ``repr``, cut to
``ITEM_CHARS``) and its error; the traceback of one kind of failure, its exception type and
the place it was raised, is written once per ``window`` seconds. The repeats in between are
counted and logged at DEBUG only, and the count is reported with the next failure of that
kind after the window (or by ``report``): ``... repeated 523 times in the last 10 s``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

ITEM_CHARS = 200
"""The most characters of an item's ``repr`` a log record shows."""

ERROR_CHARS = 500
"""The most characters of an error's message a log record shows."""

KINDS = 1000
"""The most kinds of failure remembered at once (the oldest are forgotten first)."""

Kind = tuple[str, str, int]  # exception type, file and line where it was raised


@dataclass
class _Seen:
    since: float  # when the traceback of this kind was last logged
    repeated: int = 0  # failures of this kind since then, not logged at ERROR
    last: str = ""  # the last of those failures' error


def cut(text: str, most: int) -> str:
    """The text, cut to at most ``most`` characters (an ellipsis marks a cut)."""
    return text if len(text) <= most else text[: most - 1] + "…"


def kind_of(error: BaseException) -> Kind:
    """A failure's kind: its exception type, and the file and line that raised it."""
    where = error.__traceback__
    while where is not None and where.tb_next is not None:
        where = where.tb_next
    if where is None:
        return (type(error).__qualname__, "", 0)
    return (type(error).__qualname__, where.tb_frame.f_code.co_filename, where.tb_lineno)


def describe(error: BaseException) -> str:
    """``Type: message``, the message cut to ``ERROR_CHARS``."""
    return f"{type(error).__qualname__}: {cut(str(error), ERROR_CHARS)}"


class FailureLog:
    """Logs handler failures; the traceback of each kind at most once per window.

    Args:
        logger: Where the records go.
        window: Seconds during which repeats of a kind of failure are counted, not logged.
        clock: Monotonic seconds (for tests).
    """

    def __init__(
        self,
        logger: logging.Logger,
        window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger, self.window, self.clock = logger, window, clock
        self._seen: dict[Kind, _Seen] = {}

    def failed(self, name: str, item: object, error: BaseException) -> None:
        """Log that the handler of the structure ``name`` failed on item with error."""
        kind, now = kind_of(error), self.clock()
        seen = self._seen.get(kind)
        if seen is not None and now - seen.since < self.window:
            seen.repeated += 1
            seen.last = describe(error)
            if self.logger.isEnabledFor(logging.DEBUG):
                text = cut(repr(item), ITEM_CHARS)
                self.logger.debug("handler failed on %s with item %s: %s", name, text, seen.last)
            return
        repeats = self._repeats(seen, now)
        self._remember(kind, now)
        self.logger.error(
            "handler failed on %s with item %s: %s%s",
            name, cut(repr(item), ITEM_CHARS), describe(error), repeats,
            exc_info=error,
        )  # fmt: skip

    def report(self) -> None:
        """Log the counts of repeats not reported yet, and forget the kinds gone quiet."""
        now = self.clock()
        for kind, seen in list(self._seen.items()):
            if seen.repeated:
                self.logger.error(
                    "handler failure %s%s (last: %s)",
                    kind[0], self._repeats(seen, now), seen.last,
                )  # fmt: skip
                self._seen[kind] = _Seen(now)
            elif now - seen.since >= self.window:
                del self._seen[kind]

    def _repeats(self, seen: _Seen | None, now: float) -> str:
        if seen is None or not seen.repeated:
            return ""
        elapsed = now - seen.since
        seconds = f"{elapsed:.0f}" if elapsed >= 10 else f"{elapsed:.1f}"  # noqa: PLR2004
        return f" (… repeated {seen.repeated} times in the last {seconds} s)"

    def _remember(self, kind: Kind, now: float) -> None:
        self._seen.pop(kind, None)
        if len(self._seen) >= KINDS:
            del self._seen[next(iter(self._seen))]  # the one logged longest ago
        self._seen[kind] = _Seen(now)
