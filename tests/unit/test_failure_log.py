"""The Consumer's failure log: each failure with its item, tracebacks of a kind rate-limited."""

from __future__ import annotations

import logging

from aiopyrq._failures import ITEM_CHARS, FailureLog


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def down(message: str) -> None:
    """Raise a ValueError, always at the same line."""
    raise ValueError(message)


def down_elsewhere(message: str) -> None:
    """Raise a ValueError at another line."""
    raise ValueError(message)


def caught(raising, message: str) -> ValueError:
    """The error raising(message) raised, with its traceback."""
    try:
        raising(message)
    except ValueError as error:
        return error
    raise AssertionError


def fail(message: str) -> ValueError:
    """A failure of one kind."""
    return caught(down, message)


def fail_elsewhere(message: str) -> ValueError:
    """A failure of another kind: the same type, raised elsewhere."""
    return caught(down_elsewhere, message)


def handler_records(caplog) -> list[logging.LogRecord]:
    """The records about handler failures."""
    return [r for r in caplog.records if "handler fail" in r.getMessage()]


def test_repeats_within_the_window_are_counted_then_reported(caplog):
    """523 failures of one kind in 10 s: one traceback, then one record with the count."""
    clock = Clock()
    log = FailureLog(logging.getLogger("aiopyrq"), window=10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="aiopyrq"):
        for i in range(524):
            clock.now += 0.01
            log.failed("jobs", f"item-{i}", fail(f"down for item-{i}"))
        clock.now += 10.0
        log.failed("jobs", "item-last", fail("down for item-last"))
        log.report()
    records = handler_records(caplog)
    assert [bool(r.exc_info) for r in records] == [True, True]
    assert "item 'item-0': ValueError: down for item-0" in records[0].getMessage()
    assert records[1].getMessage().endswith("(… repeated 523 times in the last 15 s)")


def test_other_kinds_are_logged_and_quiet_kinds_forgotten(caplog):
    """Another place of raising is another kind; report() gives counts, then forgets."""
    clock = Clock()
    log = FailureLog(logging.getLogger("aiopyrq"), window=10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="aiopyrq"):
        log.failed("jobs", "a", fail("x"))
        log.failed("jobs", "b", fail_elsewhere("x"))
        log.failed("jobs", "c", fail("y"))
        log.report()  # one repeat of the first kind
        clock.now += 20.0
        log.report()  # nothing new: nothing logged, both kinds forgotten
        log.failed("jobs", "d", fail("z"))
    messages = [r.getMessage() for r in handler_records(caplog)]
    assert len(messages) == 4
    assert "item 'b'" in messages[1]
    assert "failure ValueError (… repeated 1 times in the last 0.0 s)" in messages[2]
    assert "last: ValueError: y" in messages[2]
    assert "item 'd'" in messages[3]


def test_items_and_messages_are_cut(caplog):
    """A huge item or message is cut to a bounded size in the record."""
    log = FailureLog(logging.getLogger("aiopyrq"))
    with caplog.at_level(logging.INFO, logger="aiopyrq"):
        log.failed("jobs", "i" * 100_000, fail("m" * 100_000))
    (record,) = handler_records(caplog)
    assert "i" * (ITEM_CHARS - 2) + "…" in record.getMessage()
    assert len(record.getMessage()) < 1000
