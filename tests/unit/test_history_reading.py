"""Reading the history's ring (``aiopyrq._history``), without a server."""

from __future__ import annotations

import pytest

from aiopyrq import HistoryMinute
from aiopyrq._history import DAY, SLOTS, check_minutes, fields, parse, summed

NOW = 1_796_000_000  # unix seconds, 20 s into its minute
MINUTE = NOW // 60
STAMP = MINUTE // SLOTS * DAY  # the day of MINUTE, as its slot's values carry it


def test_fields_are_the_last_minutes_slots_oldest_first():
    """The fields of the slots of the last minutes, wrapping around the ring."""
    slot = MINUTE % SLOTS
    assert fields(NOW, 1) == [f"{slot}{s}" for s in (":a", ":d", ":k", ":f", ":r", ":x", ":w")]
    firsts = [field.split(":")[0] for field in fields(NOW, 3)[::7]]
    assert firsts == [str((MINUTE - past) % SLOTS) for past in (2, 1, 0)]
    slots = sorted(int(field.split(":")[0]) for field in fields(NOW, SLOTS)[::7])
    assert slots == list(range(SLOTS))


def test_parse_keeps_only_the_minute_a_slot_names():
    """A field of another day (a day old), or none, is a count of 0, waiting None."""
    values = [*[str(STAMP - DAY + 9)] * 7, *[None] * 7, *[str(STAMP + n) for n in range(1, 8)]]
    assert parse(NOW, values) == [
        HistoryMinute((MINUTE - 2) * 60),
        HistoryMinute((MINUTE - 1) * 60),
        HistoryMinute(MINUTE * 60, 1, 2, 3, 4, 5, 6, 7),
    ]
    sparse = [str(STAMP + 1).encode(), None, None, None, None, None, None]  # raw, no waiting
    assert parse(NOW, sparse) == [HistoryMinute(MINUTE * 60, added=1)]
    mixed = [str(STAMP + 2), str(STAMP - DAY + 5), None, None, None, None, str(STAMP - DAY + 3)]
    assert parse(NOW, mixed) == [HistoryMinute(MINUTE * 60, added=2)]  # the day's fields only


def test_summed_aligns_minutes_by_start():
    """Shards whose clocks are in different minutes add up by minute; waiting where known."""
    early = [HistoryMinute(60, added=1, waiting=2), HistoryMinute(120, added=2)]
    late = [HistoryMinute(120, added=10, waiting=5), HistoryMinute(180, added=20, waiting=1)]
    assert summed([early, late], 2) == [
        HistoryMinute(120, added=12, waiting=5),
        HistoryMinute(180, added=20, waiting=1),
    ]
    assert summed([early, early], 2) == [
        HistoryMinute(60, added=2, waiting=4),
        HistoryMinute(120, added=4),
    ]


@pytest.mark.parametrize("minutes", [1, 60, SLOTS])
def test_minutes_in_range(minutes):
    """From 1 to 1,440 minutes."""
    assert check_minutes(minutes) == minutes


@pytest.mark.parametrize(
    ("minutes", "error"),
    [
        (0, ValueError),
        (SLOTS + 1, ValueError),
        (-5, ValueError),
        (True, TypeError),
        ("1", TypeError),
    ],
)
def test_minutes_out_of_range(minutes, error):
    """Anything else is refused."""
    with pytest.raises(error, match="minutes"):
        check_minutes(minutes)
