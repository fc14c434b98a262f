"""Delays: the checks of a ``delay`` argument, and the Consumer's default retry backoff."""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    Delay = float | Callable[[int], float]

FIRST_RETRY = 1.0
"""Seconds before the first retry of a failed item, by default (doubling per failure)."""

LAST_RETRY = 300.0
"""The longest delay between two retries of a failed item, by default, in seconds."""

JITTER = 0.25
"""Each default retry delay is spread by up to this fraction either way."""


def check_delay(value: object) -> float:
    """Return a delay in seconds, refusing what is not a finite number of at least 0.

    Raises:
        TypeError: The delay is not an int or a float.
        ValueError: The delay is negative, infinite or NaN.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"delay must be a number of seconds, not {type(value).__name__}"
        raise TypeError(msg)
    if not (math.isfinite(value) and value >= 0):
        msg = f"delay must be a finite number of seconds of at least 0, got {value}"
        raise ValueError(msg)
    return float(value)


def delay_ms(seconds: float) -> int:
    """A checked delay in whole milliseconds, as the scripts take it (a delay > 0 is >= 1)."""
    if seconds <= 0:
        return 0
    return max(1, round(seconds * 1000))


def retry_after(deliveries: int) -> float:
    """The default retry delay of an item whose handler failed ``deliveries`` times.

    About ``FIRST_RETRY`` seconds after the first failure, twice as long after each
    further one, at most ``LAST_RETRY``, each spread by up to ``JITTER`` either way so
    that items failed together do not all come back at once.
    """
    base = min(LAST_RETRY, FIRST_RETRY * 2.0 ** min(max(deliveries, 1) - 1, 64))
    return base * (1 + JITTER * (2 * random.random() - 1))  # noqa: S311 - not for secrets
