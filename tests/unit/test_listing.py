"""How ``aiopyrq ls`` tells structures from their keys, and watch's change per second: no server."""

from __future__ import annotations

import pytest

from aiopyrq import HistoryMinute, _snapshot, cli
from aiopyrq._keys import QueueKeys, is_inner_key, names_of_key, own_key_prefixes, shard_of
from aiopyrq._listing import glob


@pytest.mark.parametrize(
    ("key", "cluster", "names"),
    [
        ("orders", False, ["orders"]),
        ("orders-dead", False, ["orders", "orders-dead"]),
        ("orders-unique", False, ["orders", "orders-unique"]),
        ("orders-timeouts", False, ["orders", "orders-timeouts"]),
        ("orders-delayed", False, ["orders", "orders-delayed"]),
        ("orders-processing-x", False, ["orders-processing-x"]),
        ("-dead", False, ["-dead"]),
        ("{orders}", True, ["orders"]),
        ("{orders}-dead", True, ["orders", "{orders}-dead"]),
        ("{orders}-delayed", True, ["orders", "{orders}-delayed"]),
        ("{orders}:0-dead", True, ["{orders}:0", "{orders}:0-dead"]),
        ("orders-dead", True, []),  # no hash tag: no structure has this key on a cluster
    ],
)
def test_names_of_a_key(key, cluster, names):
    """A key gives the structures it may be the own key, set, lease hash or dead letters of."""
    assert names_of_key(key, cluster=cluster) == names
    for name in names:
        assert key in QueueKeys(name, cluster=cluster).kind_keys


@pytest.mark.parametrize(
    ("key", "cluster", "names"),
    [
        ("orders-history", False, ["orders", "orders-history"]),
        ("{orders}-history", True, ["orders", "{orders}-history"]),
        ("{orders}:3-history", True, ["{orders}:3", "{orders}:3-history"]),
    ],
)
def test_names_of_a_history(key, cluster, names):
    """A history gives the structure it is of (and the queue of its own name it may be)."""
    assert names_of_key(key, cluster=cluster) == names
    assert QueueKeys(names[0], cluster=cluster).history == key


@pytest.mark.parametrize("cluster", [False, True])
def test_a_structure_owns_its_keys_only(cluster):
    """A structure owns every key QueueKeys makes for it, not a longer name's keys."""
    keys = QueueKeys("a", cluster=cluster)
    made = [keys.processing("c1"), keys.call("1"), keys.retry_count, keys.retry_timeout]
    made += [keys.deliveries, keys.dead_records, keys.wakeup, keys.recovery_lock, keys.history]
    made += keys.kind_keys
    assert all(keys.owns(key) for key in made)
    assert set(keys._keys_owned[1]) == {keys.processing(""), keys.call("")}
    assert not keys.owns(QueueKeys("a-b", cluster=cluster).queue)
    assert not keys.owns(QueueKeys("ab", cluster=cluster).dead)


def test_own_key_prefixes():
    """The own keys a key may belong to: itself, and what stands before each dash."""
    assert own_key_prefixes("a-b-dead") == ["a-b-dead", "a-b", "a"]


def test_shard_of():
    """NAME:i is shard i of NAME; a name without a number after its last colon is none."""
    assert shard_of("jobs:0") == ("jobs", 0)
    assert shard_of("a:b:12") == ("a:b", 12)
    assert shard_of("jobs:01") is None
    assert shard_of("jobs:") is None
    assert shard_of(":1") is None


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("*", ["", "a", "a-b"], []),
        ("orders*", ["orders", "orders-2"], ["my-orders"]),
        ("?rders", ["orders"], ["rders", "oorders"]),
        ("[ab]x", ["ax", "bx"], ["cx", "abx"]),
        ("[^ab]x", ["cx"], ["ax"]),
        ("[a-c]x", ["bx"], ["dx"]),
        ("a\\*", ["a*"], ["ab"]),
        ("a.b", ["a.b"], ["axb"]),
        ("[x", ["x"], ["[x"]),  # Redis: a class to the end of the pattern
        ("a[]", [], ["a", "a]", "a[]"]),
    ],
)
def test_glob_as_redis_matches(pattern, matching, not_matching):
    """The pattern matches a whole name as SCAN MATCH does (checked against Redis elsewhere)."""
    matches = glob(pattern)
    assert all(matches(name) for name in matching)
    assert not any(matches(name) for name in not_matching)


def test_watch_change_per_second():
    """With the previous view and the seconds between, each count's change per second."""
    before = _snapshot.QueueSnapshot("q", "queue", 100, waiting=10, dead=0, holders=())
    after = _snapshot.QueueSnapshot("q", "queue", 102, waiting=4, dead=1, holders=(), delayed=3)

    lines = cli.render(after, before, 2.0)

    assert "  Δ/s (change of each count per second, over 2.0 s): " in lines[5]
    assert lines[5].endswith("waiting -3.0, delayed +1.5, in flight +0.0, dead letters +0.5")
    assert not any("Δ/s" in line for line in cli.render(after))


def test_stats_json_change_per_second():
    """stats --over adds each count's change per second to the JSON; a Pool's own counts."""
    before = _snapshot.QueueSnapshot("q", "queue", 100, waiting=10, dead=0, holders=())
    after = _snapshot.QueueSnapshot("q", "queue", 104, waiting=2, dead=2, holders=())

    data = cli._with_rates(after, before, 4.0)

    assert data["per_second"] == {"waiting": -2.0, "delayed": 0.0, "in_flight": 0.0, "dead": 0.5}
    assert data["over_seconds"] == 4.0
    assert cli._with_rates(after, None, 4.0) == after.to_json()
    pool = _snapshot.PoolSnapshot("p", 100, total=10, due=4, in_flight=2)
    later = _snapshot.PoolSnapshot("p", 102, total=14, due=4, in_flight=4)
    assert cli._with_rates(later, pool, 2.0)["per_second"] == {
        "in_flight": 1.0,
        "total": 2.0,
        "due": 0.0,
        "scheduled": 1.0,
    }


def test_items_per_second_from_the_history():
    """The rates of the last full minute and of the last 5: the current minute left out."""
    counts = [(600, 0), (60, 0), (0, 0), (0, 0), (120, 6), (300, 60), (9999, 9999)]
    history = [
        HistoryMinute(60 * i, added=added, failed=failed, waiting=1)
        for i, (added, failed) in enumerate(counts)
    ]

    rates = cli.history_rates(history)

    assert rates["last_minute"] == {
        "added": 5.0,
        "delivered": 0.0,
        "acked": 0.0,
        "failed": 1.0,
        "recovered": 0.0,
        "dead": 0.0,
    }
    assert rates["last_5_minutes"]["added"] == 1.6
    assert rates["last_5_minutes"]["failed"] == 0.22
    lines = cli.render(_snapshot.PoolSnapshot("p", 0, 1, 1, 0), history=rates)
    assert "  last minute:     added 5.00  delivered 0.00  acked 0.00  failed 1.00" in lines[5]
    assert lines[6].startswith("  last 5 minutes:  added 1.60 ")
    data = cli._with_rates(_snapshot.PoolSnapshot("p", 0, 1, 1, 0), None, 0.0, rates)
    assert data["history_per_second"] == rates


@pytest.mark.parametrize("cluster", [False, True])
def test_inner_keys(cluster):
    """Processing lists, call replies, wake-up tokens are inner keys; kind keys are not."""
    keys = QueueKeys("a-b", cluster=cluster)
    for key in (
        keys.processing("c"),
        keys.call("1"),
        keys.wakeup,
        keys.retry_count,
        keys.dead_records,
    ):
        assert is_inner_key(key, cluster=cluster), key
    for key in (*keys.kind_keys, QueueKeys("a-b-c", cluster=cluster).queue):
        assert not is_inner_key(key, cluster=cluster), key
