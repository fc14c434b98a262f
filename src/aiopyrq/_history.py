"""The history of a structure: what its scripts did, per minute, over the last 24 hours.

The scripts that add, hand out, acknowledge, reject, recover and dead-letter items count
them in the hash ``NAME-history`` as they work (``lua/includes/history.lua``): a ring of
1,440 slots, one per minute of the server's clock. Slot ``s`` (``minute % 1440``) is the
fields ``s:a`` (added), ``s:d`` (delivered), ``s:k`` (acked), ``s:f`` (failed), ``s:r``
(recovered), ``s:x`` (dead) and ``s:w`` (waiting), each stamped with the day of the minute
it counts: ``day * 10**10 + count``, ``day`` being ``minute // 1440``. A field is read back
only for the day of the minute asked for, so a minute more than a day old is never
returned, and the hash never holds more than 1,440 slots; the key expires 25 hours after
the last minute written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

SLOTS = 1440
"""Minutes kept: the slots of the ring (``HISTORY_SLOTS`` of ``lua/includes/history.lua``)."""

EVENTS = ("added", "delivered", "acked", "failed", "recovered", "dead")
"""The counts of a minute."""

SUFFIXES = (":a", ":d", ":k", ":f", ":r", ":x", ":w")
"""The fields of a slot after its number: the counts of EVENTS, then waiting."""

DAY = 10**10
"""A field's value is ``day * DAY + count`` (``HISTORY_DAY`` of ``lua/includes/history.lua``)."""


@dataclass(frozen=True)
class HistoryMinute:
    """What a structure's scripts did in one minute of the server's clock.

    Attributes:
        start: The unix time, in seconds, at which the minute starts.
        added: Items added (a delayed item when it is added; a UniqueQueue's item only if
            it was not waiting already; a Pool's item only if it was new to the pool).
        delivered: Items handed out by a get (a Pool's: each time one is handed out).
        acked: Items acknowledged (a Pool's: acked or removed after being handed out).
        failed: Items rejected, or whose consumer's lease expired and whose items were
            recovered (a Pool's: handed out again after ``ack_ttl`` without an ack).
        recovered: Items put back in the queue from a consumer's processing list by
            recovery or ``release``.
        dead: Items that went to the dead letters.
        waiting: The items waiting in the queue (a Pool: due) early in the minute: after
            the first add, get, reject or recovery of the minute (a Pool: get), the last of
            these if the minute had several kinds; None if no such call wrote this minute.
    """

    start: int
    added: int = 0
    delivered: int = 0
    acked: int = 0
    failed: int = 0
    recovered: int = 0
    dead: int = 0
    waiting: int | None = None


def check_minutes(minutes: object) -> int:
    """Return a number of minutes of history to read, from 1 to 1,440.

    Raises:
        TypeError: minutes is not an int.
        ValueError: minutes is out of range.
    """
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        msg = f"minutes must be an int, not {type(minutes).__name__}"
        raise TypeError(msg)
    if not 1 <= minutes <= SLOTS:
        msg = f"minutes must be from 1 to {SLOTS}, got {minutes}"
        raise ValueError(msg)
    return minutes


def fields(now: int, minutes: int) -> list[str]:
    """The fields of the slots of the last ``minutes`` minutes at unix time ``now``.

    The oldest minute's first, each slot's in the order of ``SUFFIXES``.
    """
    minute = now // 60
    slots = [(minute - past) % SLOTS for past in range(minutes - 1, -1, -1)]
    return [f"{slot}{suffix}" for slot in slots for suffix in SUFFIXES]


def parse(now: int, values: Sequence[Any]) -> list[HistoryMinute]:
    """The minutes that end with the one of unix time ``now``, from their slots' fields.

    Args:
        now: The server's unix time, in seconds.
        values: The values of ``fields``, as HMGET gives them: a field stamped with another
            day (a day old or more), or none, is a count of 0 (waiting: None).
    """
    minute, per = now // 60, len(SUFFIXES)
    count = len(values) // per
    parsed = []
    for i in range(count):
        start = (minute - (count - 1 - i)) * 60
        day = start // 60 // SLOTS
        *counts, waiting = [_of_day(value, day) for value in values[i * per : (i + 1) * per]]
        parsed.append(_minute(start, [number or 0 for number in counts], waiting))
    return parsed


def _of_day(value: Any, day: int) -> int | None:  # noqa: ANN401 - as HMGET gives it
    """A field's number if its stamp is ``day``, else None."""
    if value is None:
        return None
    stamp, number = divmod(int(value), DAY)
    return number if stamp == day else None


def summed(histories: Iterable[Sequence[HistoryMinute]], minutes: int) -> list[HistoryMinute]:
    """The minutes of several structures added up, by start (a sharded queue's shards).

    The result ends with the latest minute of any of them (their servers' clocks may
    differ); waiting is the sum of those known, None if none is.
    """
    by_start: dict[int, list[HistoryMinute]] = {}
    for history in histories:
        for minute in history:
            by_start.setdefault(minute.start, []).append(minute)
    end = max(by_start)
    result = []
    for start in range(end - (minutes - 1) * 60, end + 1, 60):
        found = by_start.get(start, [])
        counts = [sum(getattr(minute, event) for minute in found) for event in EVENTS]
        waiting = [minute.waiting for minute in found if minute.waiting is not None]
        result.append(_minute(start, counts, sum(waiting) if waiting else None))
    return result


def _minute(start: int, counts: Sequence[int], waiting: int | None) -> HistoryMinute:
    """A minute from its counts in the order of ``EVENTS``."""
    added, delivered, acked, failed, recovered, dead = counts
    return HistoryMinute(start, added, delivered, acked, failed, recovered, dead, waiting)
