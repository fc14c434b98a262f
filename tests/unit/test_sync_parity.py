"""Each public method of an asyncio structure has its sync twin, with the same signature."""

from __future__ import annotations

import inspect

import pytest

import aiopyrq
import aiopyrq.sync

CLASSES = ["Queue", "UniqueQueue", "Pool", "ShardedQueue"]
RENAMED = {"aclose": "close", "__aenter__": "__enter__", "__aexit__": "__exit__"}


def public(cls) -> dict[str, object]:
    """The public attributes of a class, and the context-manager methods."""
    names = [n for n in dir(cls) if not n.startswith("_") or n in RENAMED.values() or n in RENAMED]
    return {n: inspect.getattr_static(cls, n) for n in names if not hasattr(object, n)}


def signature(member) -> str:
    """A member's signature as text (its kind for a property or a plain attribute)."""
    if isinstance(member, classmethod | staticmethod):
        member = member.__func__
    if callable(member):
        return str(inspect.signature(member)).replace("redis.asyncio.", "redis.")
    return type(member).__name__


@pytest.mark.parametrize("name", CLASSES)
def test_same_public_methods(name):
    """The two twins of a class have the same public members, with the same signatures."""
    async_members = public(getattr(aiopyrq, name))
    sync_members = public(getattr(aiopyrq.sync, name))
    expected = {RENAMED.get(n, n): signature(m) for n, m in async_members.items()}
    assert {n: signature(m) for n, m in sync_members.items()} == expected


@pytest.mark.parametrize("name", CLASSES)
def test_sync_methods_are_plain(name):
    """No method of the sync twin is a coroutine function."""
    cls = getattr(aiopyrq.sync, name)
    assert [n for n, m in public(cls).items() if inspect.iscoroutinefunction(m)] == []


def test_sync_all():
    """aiopyrq.sync exports the structures, the durability options and the error tree."""
    assert aiopyrq.sync.__all__ == sorted(aiopyrq.sync.__all__)
    assert aiopyrq.sync.__all__ == aiopyrq.__all__
    assert aiopyrq.sync.ConsumerStats is aiopyrq.ConsumerStats


def parameters(function) -> list[tuple[str, object, object]]:
    """A function's parameters: name, kind and default (annotations differ by twin)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_consumer_twins():
    """The sync Consumer takes the same options as the asyncio one, and has its methods."""
    assert parameters(aiopyrq.sync.Consumer) == parameters(aiopyrq.Consumer)
    assert parameters(aiopyrq.sync.Consumer.run) == parameters(aiopyrq.Consumer.run)
    assert public(aiopyrq.sync.Consumer).keys() == public(aiopyrq.Consumer).keys()
