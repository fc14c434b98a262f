"""The public surface, the error tree, the input checks and the key names, without Redis."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import pkgutil
import re
import socket
from collections import deque
from decimal import Decimal

import pytest

import aiopyrq
from aiopyrq import errors
from aiopyrq._base import check_int, check_item, check_items, check_name
from aiopyrq._keys import QueueKeys, new_consumer_id

PUBLIC = [
    "AiopyrqError",
    "Consumer",
    "ConsumerStats",
    "DeadLetter",
    "Durability",
    "DurabilityError",
    "HistoryMinute",
    "MissingDependencyError",
    "NotEnoughFsyncedError",
    "NotEnoughSyncedSlavesError",
    "Pool",
    "Queue",
    "ShardedQueue",
    "UniqueQueue",
    "WaitAofError",
]


def test_all_is_pinned():
    """aiopyrq.__all__ is exactly the documented public names, sorted."""
    assert aiopyrq.__all__ == PUBLIC
    assert sorted(aiopyrq.__all__) == aiopyrq.__all__


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_importable(name):
    """Every public name is importable from aiopyrq and is defined in the package."""
    value = getattr(importlib.import_module("aiopyrq"), name)
    assert value.__module__.startswith("aiopyrq.")
    assert value.__name__ == name


def test_star_import_gives_exactly_all():
    """`from aiopyrq import *` gives the public names and nothing else."""
    namespace: dict[str, object] = {}
    exec("from aiopyrq import *", namespace)  # noqa: S102 - the statement under test
    namespace.pop("__builtins__")
    assert sorted(namespace) == PUBLIC


def test_version_is_distribution_version():
    """aiopyrq.__version__ is the installed distribution's version."""
    assert aiopyrq.__version__ == importlib.metadata.version("aio-py-rq")
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", aiopyrq.__version__)


def test_unknown_attribute():
    """A name the package does not define raises AttributeError."""
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = aiopyrq.no_such_name


def test_errors_tree():
    """The errors form the tree drawn in the errors module's docstring."""
    assert issubclass(aiopyrq.AiopyrqError, Exception)
    assert issubclass(aiopyrq.DurabilityError, aiopyrq.AiopyrqError)
    assert issubclass(aiopyrq.NotEnoughSyncedSlavesError, aiopyrq.DurabilityError)
    assert issubclass(aiopyrq.NotEnoughFsyncedError, aiopyrq.DurabilityError)
    assert issubclass(aiopyrq.WaitAofError, aiopyrq.AiopyrqError)
    assert not issubclass(aiopyrq.WaitAofError, aiopyrq.DurabilityError)
    assert issubclass(aiopyrq.MissingDependencyError, aiopyrq.AiopyrqError)
    assert issubclass(aiopyrq.MissingDependencyError, ImportError)
    for name in errors.__all__:
        assert getattr(aiopyrq, name) is getattr(errors, name)
        assert f" {name}" in errors.__doc__
    assert sorted(errors.__all__) == [name for name in PUBLIC if name.endswith("Error")]


def test_every_error_class_of_the_package_is_an_aiopyrq_error():
    """Each exception class an aiopyrq module defines (CLI, read model too) is an AiopyrqError."""
    defined = set()
    for info in pkgutil.walk_packages(aiopyrq.__path__, "aiopyrq."):
        if info.name == "aiopyrq.__main__":
            continue  # runs the command line when imported
        module = importlib.import_module(info.name)
        defined |= {
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, BaseException)
            and value.__module__ == module.__name__
        }
    names = {error.__name__ for error in defined}
    assert {"MissingDependencyError", "SnapshotError", "UsageError", "WrongTypeError"} <= names
    assert sorted(e.__name__ for e in defined if not issubclass(e, aiopyrq.AiopyrqError)) == []


def test_not_enough_synced_slaves_error_fields():
    """The error keeps how many replicas acknowledged and how many were required."""
    error = aiopyrq.NotEnoughSyncedSlavesError(1, 3)
    assert (error.synced, error.required) == (1, 3)
    assert str(error) == "There are only 1 synced slaves. Required 3"
    with pytest.raises(aiopyrq.AiopyrqError):
        raise error


@pytest.mark.parametrize("item", ["a", "", "ž", b"a", b"", 0, -5, 2**70, 1.5, 0.0])
def test_check_item_accepts(item):
    """str, bytes, int and float items are accepted as they are."""
    assert check_item(item) is item


@pytest.mark.parametrize(
    "item",
    [True, False, None, {"a": 1}, ["a"], ("a",), {"a"}, bytearray(b"a"), Decimal(1), object()],
)
def test_check_item_refuses(item):
    """bool, None, containers and other types are refused with TypeError."""
    with pytest.raises(TypeError, match="an item must be str, bytes, int or float"):
        check_item(item)


@pytest.mark.parametrize(
    "items",
    [["a", b"b", 3, 4.5], ("a", b"b", 3, 4.5), deque(["a", b"b", 3, 4.5])],
    ids=["list", "tuple", "deque"],
)
def test_check_items_accepts_iterables(items):
    """Any iterable of items is accepted and returned as a list, in order."""
    assert check_items(items) == ["a", b"b", 3, 4.5]


def test_check_items_accepts_generator_and_empty():
    """A generator is consumed into a list; an empty batch gives an empty list."""
    assert check_items(str(i) for i in range(3)) == ["0", "1", "2"]
    assert check_items([]) == []


@pytest.mark.parametrize("items", ["abc", b"abc", 3, None, 1.5, True])
def test_check_items_refuses_non_iterables_and_strings(items):
    """A single str or bytes (not a batch) and non-iterables are refused with TypeError."""
    with pytest.raises(TypeError, match="items must be an iterable of items"):
        check_items(items)


@pytest.mark.parametrize("bad", [None, True, {"x": 1}])
def test_check_items_refuses_a_bad_item(bad):
    """One bad item anywhere in the batch refuses the whole batch."""
    with pytest.raises(TypeError, match="an item must be"):
        check_items(["a", "b", bad, "c"])


@pytest.mark.parametrize(("value", "minimum"), [(0, 0), (7, 0), (1, 1), (10**12, 1), (-3, -5)])
def test_check_int_accepts(value, minimum):
    """An int at least the minimum is returned."""
    assert check_int(value, "count", minimum=minimum) == value


@pytest.mark.parametrize("value", [True, False, 1.0, "1", None, Decimal(1)])
def test_check_int_refuses_types(value):
    """bool, float, str and None are not counts: TypeError naming the argument."""
    with pytest.raises(TypeError, match="count must be an int"):
        check_int(value, "count")


@pytest.mark.parametrize(("value", "minimum"), [(-1, 0), (0, 1), (-(10**9), 0)])
def test_check_int_refuses_below_minimum(value, minimum):
    """An int below the minimum raises ValueError naming the argument."""
    with pytest.raises(ValueError, match=f"timeout must be at least {minimum}"):
        check_int(value, "timeout", minimum=minimum)


@pytest.mark.parametrize("name", ["q", "my-queue", "a b", "{tag}x"])
def test_check_name_accepts(name):
    """Any non-empty str names a structure."""
    assert check_name(name) == name


def test_check_name_refuses_empty():
    """An empty name raises ValueError."""
    with pytest.raises(ValueError, match="must not be empty"):
        check_name("")


@pytest.mark.parametrize("name", [None, b"q", 1, ["q"]])
def test_check_name_refuses_types(name):
    """A name that is not a str raises TypeError."""
    with pytest.raises(TypeError, match="name must be a str"):
        check_name(name)


def test_queue_key_names():
    """The keys of a queue are the original library's names."""
    keys = QueueKeys("NAME")
    assert keys.queue == "NAME"
    assert keys.unique == "NAME-unique"
    assert keys.timeouts == "NAME-timeouts"
    assert keys.retry_count == "NAME-retry-count"
    assert keys.retry_timeout == "NAME-retry-timeout"
    assert keys.processing("host[1][2-abcdef01]") == "NAME-processing-host[1][2-abcdef01]"


def test_consumer_id_format():
    """A consumer id is host[pid][seconds-8 hex digits]."""
    pattern = rf"{re.escape(socket.gethostname())}\[{os.getpid()}\]\[\d+-[0-9a-f]{{8}}\]"
    assert re.fullmatch(pattern, new_consumer_id())


def test_consumer_ids_distinct():
    """Ids made in the same second of one process are all distinct."""
    assert len({new_consumer_id() for _ in range(1000)}) == 1000
