"""Passwords never shown in a URL."""

import pytest

from aiopyrq._urls import mask


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://:secret@localhost:6379", "redis://:***@localhost:6379"),
        ("rediss://alice:s3cr%40t@host:6380/1", "rediss://alice:***@host:6380/1"),
        ("redis://host?password=secret&db=1", "redis://host?password=***&db=1"),
        ("unix:///run/redis.sock?password=secret", "unix:///run/redis.sock?password=***"),
    ],
)
def test_mask_hides_the_password(url, shown):
    """The password, in the user part or in the query, is replaced by ***."""
    assert mask(url) == shown
    assert "secret" not in mask(url)
    assert "s3cr" not in mask(url)
