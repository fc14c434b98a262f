"""The Lua scripts of ``lua/``: loaded once, run by SHA, reloaded when Redis forgot them.

A script file is named ``<structure>_<verb>-<number of keys>.lua``. A line
``--- @include "includes/x"`` is replaced by ``lua/includes/x.lua``; an include
reached twice through other includes is kept once.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from redis import exceptions
from redis.asyncio.cluster import PipelineCommand, RedisCluster
from redis.exceptions import AskError, MovedError, NoScriptError

from aiopyrq import _connection

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.asyncio import Redis
    from redis.typing import EncodableT

    from aiopyrq._base import Item
    from aiopyrq._durability import Durability

    Client = Redis | RedisCluster

_INCLUDE = re.compile(r'^--- @include "([^"]+)"[ \t]*$', re.MULTILINE)
_NAME = re.compile(r"^\w+-(\d+)$")
_RELOADS = 2  # a SCRIPT FLUSH racing the reload itself gets a second chance
_ARRAY = b"\xdd"  # msgpack: an array of up to 2**32 - 1 elements, its length on 4 bytes
_STRING16 = b"\xda"  # msgpack: a string of up to 2**16 - 1 bytes, its length on 2 bytes
_STRING32 = b"\xdb"  # msgpack: a string of up to 2**32 - 1 bytes, its length on 4 bytes
_SHORT = 256
# msgpack headers of the strings shorter than _SHORT bytes: fixstr below 32, then str 8.
_HEADERS = [bytes([0xA0 | n]) for n in range(32)]
_HEADERS += [b"\xd9" + bytes([n]) for n in range(32, _SHORT)]


def _read(path: str) -> str:
    resource = resources.files("aiopyrq") / "lua" / f"{path}.lua"
    if not resource.is_file():
        msg = f"no Lua file lua/{path}.lua"
        raise LookupError(msg)
    return resource.read_text(encoding="utf-8")


def expand(path: str, read: Any = _read) -> str:  # noqa: ANN401 - a callable, for tests
    """Return the source of ``lua/<path>.lua`` with its includes expanded.

    Args:
        path: The file's path under ``lua/``, without ``.lua``.
        read: Reads a path to its text; the package's files by default.

    Raises:
        LookupError: A file or an include does not exist.
        ValueError: An include is cyclic, or listed twice in one file.
    """
    done: set[str] = set()

    def walk(current: str, stack: tuple[str, ...]) -> str:
        text: str = read(current)
        listed = _INCLUDE.findall(text)
        if len(listed) != len(set(listed)):
            msg = f"lua/{current}.lua includes the same file twice"
            raise ValueError(msg)

        def replace(match: re.Match[str]) -> str:
            target = match.group(1)
            if target in stack:
                msg = f"cyclic include: {' -> '.join((*stack, target))}"
                raise ValueError(msg)
            if target in done:
                return ""
            done.add(target)
            return walk(target, (*stack, target)).rstrip("\n")

        return _INCLUDE.sub(replace, text)

    return walk(path, (path,))


@dataclass(frozen=True)
class Script:
    """One Lua script, called by its SHA1."""

    name: str
    source: str
    sha: str
    numkeys: int

    def call(self, keys: Sequence[str], args: Sequence[EncodableT]) -> Call:
        """Return the EVALSHA call of this script with these keys and arguments.

        Raises:
            ValueError: The number of keys is not the script's.
        """
        if len(keys) != self.numkeys:
            msg = f"{self.name} takes {self.numkeys} keys, got {len(keys)}"
            raise ValueError(msg)
        return Call(("EVALSHA", self.sha, self.numkeys, *keys, *args), self)


@dataclass(frozen=True)
class Call:
    """One command to send: a plain command, or a script's EVALSHA."""

    args: tuple[EncodableT, ...]
    script: Script | None = None

    @property
    def key(self) -> str:
        """The first key the call touches: on a cluster, it names the slot."""
        return str(self.args[3] if self.script is not None else self.args[1])


def pack(items: Sequence[Item], encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """Pack items as the scripts read them: a msgpack array of strings (``cmsgpack.unpack``).

    One argument instead of one per item: the client encodes a batch in one go, which is
    where most of a batch's client time goes otherwise. Items are encoded as redis-py
    encodes command arguments: ``str`` with the client's encoding, numbers by ``repr``.
    """
    data = [
        item.encode(encoding, errors) if type(item) is str else _encode(item, encoding, errors)
        for item in items
    ]
    parts: list[bytes] = [b""] * (2 * len(data))
    parts[::2] = [_HEADERS[n] if (n := len(d)) < _SHORT else _header(n) for d in data]
    parts[1::2] = data
    return _ARRAY + len(data).to_bytes(4, "big") + b"".join(parts)


def _encode(item: Item, encoding: str, errors: str) -> bytes:
    """An item other than a plain ``str`` as redis-py would send it."""
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return str(item).encode(encoding, errors)
    return repr(item).encode()


def _header(length: int) -> bytes:
    """The msgpack header of a string of this many bytes."""
    if length < 1 << 16:
        return _STRING16 + length.to_bytes(2, "big")
    return _STRING32 + length.to_bytes(4, "big")


@functools.cache
def load(name: str) -> Script:
    """Return the script ``lua/<name>.lua``, read and expanded once per process.

    Raises:
        ValueError: The file name does not end in ``-<number of keys>``.
    """
    match = _NAME.match(name)
    if match is None:
        msg = f"script name {name!r} does not end in -<number of keys>"
        raise ValueError(msg)
    source = expand(name)
    sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
    return Script(name, source, sha, int(match.group(1)))


async def send(client: Client, *args: EncodableT) -> Any:  # noqa: ANN401 - a Redis reply
    """Send one command and return its reply."""
    return await client.execute_command(*args)


async def run(client: Client, call: Call, *, shared: bool = True) -> Any:  # noqa: ANN401 - the script's reply
    """Send one call, loading its script again if Redis has forgotten it.

    Args:
        client: The client.
        call: The call.
        shared: The call is small: it may share a round trip with others (see _connection).

    Returns:
        The reply.
    """
    for _ in range(_RELOADS):
        try:
            return await _connection.execute(client, *call.args, shared=shared)
        except NoScriptError:  # noqa: PERF203 - the rare path, after a SCRIPT FLUSH or failover
            if call.script is None:
                raise
            await _connection.execute(client, "SCRIPT LOAD", call.script.source)
    return await _connection.execute(client, *call.args, shared=shared)


async def run_all(
    client: Client,
    calls: Sequence[Call],
    durability: Durability | None = None,
) -> list[Any]:
    """Send calls in one round trip on one connection, then wait there for durability.

    The calls are not a transaction: each is atomic on its own. WAIT and WAITAOF go on the
    connection that made the writes, so they wait for those writes. On a cluster, every
    call must touch the one hash slot of its structure.

    Args:
        client: The Redis or RedisCluster client.
        calls: The commands to send, in order.
        durability: What to wait for after the calls.

    Returns:
        The replies, in the order of the calls.

    Raises:
        DurabilityError: The writes are done but not as durable as asked.
    """
    if durability is None and len(calls) == 1:
        return [await run(client, calls[0])]
    replies: list[Any] = [None] * len(calls)
    pending = list(range(len(calls)))
    for attempt in range(_RELOADS + 1):
        pending = await _round(
            client, calls, pending, replies, durability, last=attempt == _RELOADS
        )
        if not pending:
            break
        for script in {calls[i].script for i in pending}:
            if script is not None:
                await send(client, "SCRIPT LOAD", script.source)
    return replies


async def _round(  # noqa: PLR0913 - one pipeline's whole state
    client: Client,
    calls: Sequence[Call],
    pending: list[int],
    replies: list[Any],
    durability: Durability | None,
    *,
    last: bool,
) -> list[int]:
    """Send the pending calls in one pipeline, store their replies.

    Returns:
        The calls whose script Redis did not know, to send again once it is loaded.
    """
    after = [] if durability is None else durability.commands()
    commands = [calls[i].args for i in pending] + after
    results = await _pipeline(client, commands, calls[pending[0]].key)
    forgotten = []
    for i, result in zip(pending, results, strict=False):
        if isinstance(result, NoScriptError) and calls[i].script is not None and not last:
            forgotten.append(i)
        elif isinstance(result, Exception):
            raise result
        else:
            replies[i] = result
    # The waits cover what this round wrote; a round that wrote nothing (the script was
    # unknown) has nothing to wait for, and its calls are sent again with waits of their own.
    if durability is not None and len(forgotten) < len(pending):
        durability.check(results[len(pending) :])
    return forgotten


async def _pipeline(client: Client, commands: list[tuple[EncodableT, ...]], key: str) -> list[Any]:
    """Send commands in one round trip on one connection; errors come back as replies."""
    if not isinstance(client, RedisCluster):
        pipe = client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return await pipe.execute(raise_on_error=False)
    # A cluster client would send WAIT to every master: talk to the key's master directly.
    await client.initialize()  # learns the slots on a client's first command; then a no-op
    node = client.get_node_from_key(key)
    if node is None:  # pragma: no cover - get_node_from_key raises for an uncovered slot
        msg = f"no node serves the key {key!r}"
        raise LookupError(msg)
    queued = [PipelineCommand(i, *command) for i, command in enumerate(commands)]
    try:
        await node.execute_pipeline(queued)
    except (exceptions.ConnectionError, exceptions.TimeoutError):
        await client.nodes_manager.initialize()  # the master is gone: learn who took over
        raise
    results = [command.result for command in queued]
    if any(
        isinstance(result, MovedError | AskError | exceptions.ConnectionError) for result in results
    ):
        await client.nodes_manager.initialize()  # the next call goes to the right master
    return results
