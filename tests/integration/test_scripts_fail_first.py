"""Every script fails before its first write: a refused command or a wrong-type key changes nothing.

Each script runs on a scenario that makes it write; then it runs again on the same scenario
under an ACL user missing one of the commands its source names (each in turn), and with each
of its keys holding a value of the wrong type: the script fails and every key is as it was.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
import redis

from aiopyrq import _scripts

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.harness import RedisServer

pytestmark = pytest.mark.redis

Keys = list[str]
FILL = {"list": "rpush", "set": "sadd"}
PASSWORD = "any"  # noqa: S105 - the test user has nopass
DUE_PREFIX = "0" * 20  # a Queue's delayed member: 20 characters, then the item
OPTIONAL = {"PUBLISH"}  # best effort (includes/delayed): without it the script runs all the same
LEVEL_1 = -(2**40)  # the score of a prioritised item at level 1 (includes/priority)
HISTORY = ("hash", {"7:a": "1", "7:w": "1"})  # one slot, of a day long gone (stamp 0)


def pack(*items: str) -> bytes:
    return _scripts.pack(list(items))


def scenario(
    *contents: tuple[str, Any], args: Callable[[Keys], list[Any]] = lambda _: []
) -> tuple[list[tuple[str, Any]], Callable[[Keys], list[Any]]]:
    """Keys of these types and contents (a callable gets the key names), and the arguments."""
    return list(contents), args


# One scenario per script: what its keys hold, its arguments; each makes the script write.
SCENARIOS: dict[str, tuple[list[tuple[str, Any]], Callable[[Keys], list[Any]]]] = {
    "queue_add-2": scenario(("list", ["a"]), HISTORY, args=lambda _: [pack("x", "y")]),
    "queue_get-10": scenario(
        ("list", ["a", "b", "c"]),
        ("list", ["p"]),
        ("hash", lambda k: {k[1]: 1}),
        ("zset", {DUE_PREFIX + "d": 1, DUE_PREFIX + "e": 4102444800000}),
        ("zset", {DUE_PREFIX + "h": LEVEL_1}),
        ("hash", {"d": 3}),
        HISTORY,
        ("zset", {"00000000000000001": 1}),
        ("hash", {"other": 1}),
        ("list", ["1"]),
        args=lambda _: [2, 1, 10, 5, 1_000_000],
    ),
    "unique_get-11": scenario(
        ("list", ["a", "b", "c"]),
        ("set", ["a", "b", "c", "d", "e", "h"]),
        ("list", ["p"]),
        ("hash", lambda k: {k[2]: 1}),
        ("zset", {"d": 1, "e": 4102444800000}),
        ("zset", {"h": LEVEL_1}),
        ("hash", {"d": 3}),
        HISTORY,
        ("zset", {"00000000000000001": 1}),
        ("hash", {"other": 1}),
        ("list", ["1"]),
        args=lambda _: [2, 1, 10, 5, 1_000_000],
    ),
    "queue_delay-2": scenario(("zset", {"x": 1}), HISTORY, args=lambda _: [1000, pack("a", "a")]),
    "unique_delay-3": scenario(
        ("set", ["q"]), ("zset", {"x": 1}), HISTORY, args=lambda _: [1000, pack("a", "q", "a")]
    ),
    "queue_counts-3": scenario(
        ("list", ["a"]), ("zset", {"d": 1, "e": 4102444800000}), ("zset", {"p": LEVEL_1})
    ),
    "queue_ack-7": scenario(
        ("list", ["a", "b", "c"]),
        ("hash", lambda k: {k[0]: 1}),
        ("hash", {"a": 1}),
        ("hash", {"b": 2}),
        HISTORY,
        ("hash", lambda k: {k[0]: 3}),
        ("list", ["1"]),
        args=lambda _: [pack("a", "b"), 10],
    ),
    "queue_reject-12": scenario(
        ("list", ["q"]),
        ("list", ["a", "b", "c"]),
        ("hash", lambda k: {k[1]: 1}),
        ("hash", {"a": 1}),
        ("list", ["x"]),
        ("zset", {"y": 1}),
        ("hash", {"x": "{}"}),
        ("zset", {DUE_PREFIX + "z": LEVEL_1}),
        ("hash", {"a": 1, "b": 1}),
        HISTORY,
        ("hash", lambda k: {k[1]: 3}),
        ("list", ["1"]),
        args=lambda _: [2, pack("a", "b", "c"), 0, 1, "why", "me", 10],
    ),
    "unique_reject-13": scenario(
        ("list", ["q"]),
        ("set", ["q"]),
        ("list", ["a", "b", "q"]),
        ("hash", lambda k: {k[2]: 1}),
        ("hash", {"a": 1}),
        ("list", ["x"]),
        ("zset", {"y": 1}),
        ("hash", {"x": "{}"}),
        ("zset", {"z": LEVEL_1}),
        ("hash", {"a": 1, "b": 1}),
        HISTORY,
        ("hash", lambda k: {k[2]: 3}),
        ("list", ["1"]),
        args=lambda _: [2, pack("a", "b", "q"), 0, 1, "why", "me", 10],
    ),
    "queue_recover-11": scenario(
        ("list", ["q"]),
        ("list", ["a", "b"]),
        ("hash", lambda k: {k[1]: 1}),
        ("hash", {"a": 1}),
        ("list", ["x"]),
        ("hash", {"x": "{}"}),
        ("zset", {DUE_PREFIX + "z": LEVEL_1}),
        ("hash", {"a": 1, "b": 1}),
        HISTORY,
        ("hash", lambda k: {k[1]: 2}),
        ("list", ["1"]),
        args=lambda _: [10, 2, "lease expired", "them", 10],
    ),
    "unique_recover-13": scenario(
        ("list", ["q"]),
        ("set", ["q", "d", "z"]),
        ("list", ["a", "q", "a", "d", "z"]),
        ("hash", lambda k: {k[2]: 1}),
        ("hash", {"a": 1}),
        ("list", ["x"]),
        ("zset", {"d": 4102444800000}),
        ("hash", {"x": "{}"}),
        ("zset", {"z": LEVEL_1}),
        ("hash", {"a": 1, "z": 1, "q": -1}),
        HISTORY,
        ("hash", lambda k: {k[2]: 4}),
        ("list", ["1"]),
        args=lambda _: [10, 2, "lease expired", "them", 10],
    ),
    "queue_requeue-4": scenario(
        ("list", ["q"]),
        ("list", ["a", "b", "a"]),
        ("hash", {"a": 1}),
        ("hash", {"a": "{}", "b": "{}"}),
        args=lambda _: [pack("a", "b")],
    ),
    "unique_requeue-5": scenario(
        ("list", ["q"]),
        ("set", ["q"]),
        ("list", ["a", "q"]),
        ("hash", {"a": 1}),
        ("hash", {"a": "{}"}),
        args=lambda _: [pack()],
    ),
    "queue_heartbeat-2": scenario(("list", ["a"]), ("hash", lambda k: {k[0]: 1})),
    "queue_purge-2": scenario(("list", ["a"]), ("hash", {"a": "{}"})),
    "queue_delete-1": scenario(("list", ["a", "b", "a"]), args=lambda _: [0, pack("a")]),
    "queue_drop-5": scenario(
        ("list", ["a"]),
        ("hash", lambda k: {k[0]: 1}),
        ("hash", {"a": 2}),
        ("hash", lambda k: {k[0]: 1}),
        ("list", ["1"]),
        args=lambda _: [10, 10],
    ),
    "queue_reset-2": scenario(("hash", {"a": 3}), ("hash", {"a": 100}), args=lambda _: ["a"]),
    "queue_rollback-2": scenario(("hash", {"a": 3}), ("hash", {"a": 100}), args=lambda _: ["a"]),
    "unique_add-3": scenario(
        ("list", ["q"]), ("set", ["q"]), HISTORY, args=lambda _: [pack("x", "q")]
    ),
    "unique_delete-5": scenario(
        ("list", ["q", "x"]),
        ("set", ["q", "x", "d", "p"]),
        ("zset", {"d": 4102444800000}),
        ("zset", {"p": LEVEL_1}),
        ("hash", {"p": 1}),
        args=lambda _: [pack("q", "d", "p")],
    ),
    "pool_add-3": scenario(
        ("zset", {"a": 1}), ("list", ["1"]), HISTORY, args=lambda _: [pack("x")]
    ),
    "pool_get-2": scenario(("zset", {"a": 1, "b": 2.1}), HISTORY, args=lambda _: [5, 60]),
    "pool_ack-2": scenario(
        ("zset", {"a": 4102444800.1}), HISTORY, args=lambda _: [60, pack("a")]
    ),
    "pool_remove-2": scenario(
        ("zset", {"a": 4102444800.1}), HISTORY, args=lambda _: [pack("a")]
    ),
    "queue_history-1": scenario(HISTORY, args=lambda _: [10]),
    "pool_count_due-1": scenario(("zset", {"a": 1})),
    "pool_next_due-1": scenario(("zset", {"a": 1})),
    "queue_next_due-2": scenario(("zset", {DUE_PREFIX + "a": 1}), ("zset", {"p": LEVEL_1})),
    "queue_prioritize-4": scenario(
        ("zset", {DUE_PREFIX + "z": LEVEL_1}),
        ("hash", {"z": 1}),
        ("zset", {"y": 1}),
        HISTORY,
        args=lambda _: [1, 0, pack("x", "y")],
    ),
    "unique_prioritize-5": scenario(
        ("set", ["q"]),
        ("zset", {"z": LEVEL_1}),
        ("hash", {"z": 1}),
        ("zset", {"y": 1}),
        HISTORY,
        args=lambda _: [1, 0, pack("x", "q")],
    ),
}

# Keys a script names without touching them as keys: a wrong type there is no error.
NOT_TOUCHED = {("queue_heartbeat-2", 0)}  # the processing list: a field of the timeouts hash

QUOTED = re.compile(r"'([A-Z]+)'")


@pytest.fixture(scope="module")
def admin(redis_server: RedisServer) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_server.url) as client:
        yield client


@pytest.fixture(scope="module")
def known_commands(admin: redis.Redis) -> dict[str, bool]:
    """The server's commands, upper case -> whether the command writes."""
    info = admin.command()
    return {name.upper(): "write" in {str(f) for f in each["flags"]} for name, each in info.items()}


def commands_of(script: _scripts.Script, known: dict[str, bool]) -> list[str]:
    """The Redis commands the script's expanded source names."""
    return sorted({word for word in QUOTED.findall(script.source) if word in known})


def build(admin: redis.Redis, name: str, tag: str) -> tuple[Keys, list[Any]]:
    """Write the scenario of the script under keys of its own; return the keys and arguments.

    A script that changes state gets its call key too, last (see lua/wrap/once.lua).
    """
    contents, args = SCENARIOS[name]
    keys = [f"fail-first:{tag}:{name}:{{k}}{i}" for i in range(len(contents))]
    calls = [f"fail-first:{tag}:{name}:{{k}}-call"] if _scripts.load(name).once else []
    admin.delete(*keys, *calls)
    for key, (kind, content) in zip(keys, contents, strict=True):
        value = content(keys) if callable(content) else content
        if kind == "hash":
            admin.hset(key, mapping=value)
        elif kind == "zset":
            admin.zadd(key, value)
        else:
            getattr(admin, FILL[kind])(key, *value)
    return keys + calls, args(keys)


def state(admin: redis.Redis, keys: Keys) -> list[tuple[Any, Any]]:
    return [(admin.type(key), admin.dump(key)) for key in keys]


def test_every_script_has_a_scenario():
    """The scenarios cover every script the package ships."""
    lua = _scripts.resources.files("aiopyrq").joinpath("lua")
    assert set(SCENARIOS) == {p.name[:-4] for p in lua.iterdir() if p.name.endswith(".lua")}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_refused_command_changes_nothing(admin, known_commands, redis_server, name):
    """Under a user missing any command the script uses, it fails naming it; no key changes."""
    script = _scripts.load(name)
    admin.script_load(script.source)
    keys, args = build(admin, name, "ok")
    before = state(admin, keys)
    admin.evalsha(script.sha, len(keys), *keys, *args)
    commands = commands_of(script, known_commands)
    if any(known_commands[command] for command in commands):
        assert state(admin, keys) != before, "the scenario makes the script write"
    assert len(commands) >= 1
    user = f"fail-first-{name}"
    try:
        for command in commands:
            admin.acl_setuser(
                user,
                enabled=True,
                nopass=True,
                keys=["*"],
                channels=["*"],
                commands=["+@all", f"-{command.lower()}"],
                reset=True,
            )
            keys, args = build(admin, name, command)
            before = state(admin, keys)
            limited = redis.Redis.from_url(redis_server.url, username=user, password=PASSWORD)
            if command in OPTIONAL:
                with limited:
                    limited.evalsha(script.sha, len(keys), *keys, *args)
                assert state(admin, keys) != before, f"without {command} it writes all the same"
                admin.delete(*keys)
                continue
            with (
                limited,
                pytest.raises(redis.exceptions.NoPermissionError, match=rf"\b{command}\b"),
            ):
                limited.evalsha(script.sha, len(keys), *keys, *args)
            assert state(admin, keys) == before, command
            admin.delete(*keys)
    finally:
        admin.acl_deluser(user)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_wrong_type_key_changes_nothing(admin, name):
    """With any one key of the wrong type, the script fails and no key changes."""
    script = _scripts.load(name)
    admin.script_load(script.source)
    for wrong in range(script.numkeys + script.once):
        keys, args = build(admin, name, f"type{wrong}")
        admin.delete(keys[wrong])
        if wrong < script.numkeys:
            admin.set(keys[wrong], "not a structure")
        else:  # the call key holds a reply, a string: a list there is of the wrong type
            admin.rpush(keys[wrong], "not a reply")
        before = state(admin, keys)
        if (name, wrong) in NOT_TOUCHED:
            admin.evalsha(script.sha, len(keys), *keys, *args)
            assert admin.get(keys[wrong]) == b"not a structure"
        else:
            with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
                admin.evalsha(script.sha, len(keys), *keys, *args)
            assert state(admin, keys) == before, wrong
        admin.delete(*keys)
