"""Delays: the checks of ``delay`` and the Consumer's default retry backoff."""

from __future__ import annotations

import math

import pytest

from aiopyrq import Consumer, Queue
from aiopyrq._delay import FIRST_RETRY, JITTER, LAST_RETRY, check_delay, delay_ms, retry_after


@pytest.mark.parametrize("good", [0, 0.001, 1, 2.5, 10**6])
def test_good_delays(good):
    """A finite number of at least 0 seconds is a delay."""
    assert check_delay(good) == float(good)


@pytest.mark.parametrize(
    ("bad", "error"),
    [(-0.001, ValueError), (math.inf, ValueError), (math.nan, ValueError), ("1", TypeError),
     (True, TypeError), (None, TypeError)],
)  # fmt: skip
def test_bad_delays(bad, error):
    """Anything else is refused with a clear error."""
    with pytest.raises(error, match="delay"):
        check_delay(bad)


def test_milliseconds():
    """A delay > 0 is at least 1 ms: it never turns into no delay."""
    assert [delay_ms(s) for s in (0.0, 0.0001, 0.0015, 2.0)] == [0, 1, 2, 2000]


@pytest.mark.parametrize("deliveries", range(1, 15))
def test_default_backoff_doubles_within_its_bounds(deliveries):
    """About 1 s after the first failure, doubling, at most 300 s, spread by up to 25 %."""
    base = min(LAST_RETRY, FIRST_RETRY * 2 ** (deliveries - 1))
    for _ in range(50):
        assert base * (1 - JITTER) <= retry_after(deliveries) <= base * (1 + JITTER)


def test_default_backoff_is_spread():
    """Items failed together do not all come back at the same instant."""
    assert len({retry_after(3) for _ in range(20)}) > 1


def test_consumer_checks_retry_delay():
    """A retry_delay that is not a delay nor a function is refused when the Consumer is made."""
    queue = Queue("q", _unused_client())

    async def handler(_item: object) -> None:
        return None

    with pytest.raises(ValueError, match="delay"):
        Consumer(queue, handler, retry_delay=-1)
    with pytest.raises(TypeError, match="delay"):
        Consumer(queue, handler, retry_delay="1")  # type: ignore[arg-type]
    assert Consumer(queue, handler, retry_delay=0).retry_delay == 0
    assert Consumer(queue, handler).retry_delay is retry_after


def _unused_client():
    from redis.asyncio import Redis  # noqa: PLC0415 - only this test needs a client object

    return Redis()  # never connects: nothing is sent
