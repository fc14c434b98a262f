"""Limits over every consumer of a queue: a rate limit and a cap on the items held.

Both are options of the Queue object, passed to its scripts as arguments
(``lua/includes/limits.lua``): a structure without them sends none, and its scripts run
no command of the limits. Every consumer of a limited queue must be made with the same
limits: a consumer made without them takes items unlimited (it still counts in nothing).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.typing import EncodableT

RateLimit = tuple[int, float]
"""``(count, seconds)``: at most count items handed out in any span of that many seconds."""

WITHIN_LIMITS = -1
"""The get's script: the limits left room (or there are none)."""

CAP_REACHED = -2
"""The get's script: the in-flight cap is reached (else WITHIN_LIMITS, or ms to wait)."""


def check_rate_limit(value: object) -> RateLimit | None:
    """Return a rate limit ``(count, seconds)``, or None.

    Raises:
        TypeError: Not a pair of an int and a number of seconds.
        ValueError: count below 1, or seconds not finite or below one microsecond.
    """
    if value is None:
        return None
    if not isinstance(value, tuple) or len(value) != 2:  # noqa: PLR2004 - a pair
        msg = f"rate_limit must be a tuple (count, seconds), not {value!r}"
        raise TypeError(msg)
    count, seconds = value
    if isinstance(count, bool) or not isinstance(count, int):
        msg = f"rate_limit's count must be an int, not {type(count).__name__}"
        raise TypeError(msg)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        msg = f"rate_limit's seconds must be a number, not {type(seconds).__name__}"
        raise TypeError(msg)
    if count < 1:
        msg = f"rate_limit's count must be at least 1, got {count}"
        raise ValueError(msg)
    if not (math.isfinite(seconds) and seconds >= 1e-6):  # noqa: PLR2004 - one microsecond
        msg = f"rate_limit's seconds must be a finite number of at least 1e-6, got {seconds}"
        raise ValueError(msg)
    return count, float(seconds)


def caps_in_flight(structure: object) -> bool:
    """Whether a structure has an in-flight cap (a ShardedQueue: its shards have)."""
    return getattr(structure, "max_in_flight", None) is not None


def limit_args(max_in_flight: int | None, rate_limit: RateLimit | None) -> list[EncodableT]:
    """The get script's limit arguments: none without limits (see lua/includes/limits)."""
    if max_in_flight is None and rate_limit is None:
        return []
    per, seconds = rate_limit or (0, 0.0)
    return [max_in_flight or 0, per, max(1, round(seconds * 1_000_000))]
