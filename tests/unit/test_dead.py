"""The records of dead letters: reasons bounded, a handler's error as reason, records read."""

from __future__ import annotations

import json

import pytest

from aiopyrq import DeadLetter
from aiopyrq._dead import CUT, REASON_LIMIT, bounded, dead_letter, error_reason


def test_a_reason_within_the_limit_is_kept_as_it_is():
    """A reason of REASON_LIMIT characters is kept whole."""
    assert bounded("é" * REASON_LIMIT) == "é" * REASON_LIMIT


def test_a_longer_reason_is_cut_and_marked():
    """A longer reason is cut to REASON_LIMIT characters, the last ones the cut mark."""
    cut = bounded("x" * 10 * REASON_LIMIT)
    assert len(cut) == REASON_LIMIT
    assert cut.endswith(CUT)


def test_a_reason_must_be_text():
    """A reason that is not a str is refused."""
    with pytest.raises(TypeError, match="reason must be a str, not int"):
        bounded(1)


def test_error_reason_names_the_type_and_the_message():
    """A handler's error reads ``Type: message``, the type alone without a message, bounded."""
    assert error_reason(ValueError("bad input")) == "ValueError: bad input"
    assert error_reason(KeyError()) == "KeyError"
    assert len(error_reason(RuntimeError("x" * 5000))) == REASON_LIMIT


def test_records_read_back_as_dead_letters():
    """A record as the scripts write it (ms, JSON) reads as seconds; none gives Nones."""
    record = json.dumps({"reason": "r", "died_at": 1_700_000_000_123, "deliveries": 3})
    assert dead_letter("a", record.encode()) == DeadLetter("a", "r", 1_700_000_000.123, 3, None)
    assert dead_letter(b"b", None) == DeadLetter(b"b")
