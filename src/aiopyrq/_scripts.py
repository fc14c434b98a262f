"""The Lua scripts of ``lua/``: loaded once, expanded, and packed into calls by SHA.

``aiopyrq._transport`` sends the calls (and loads a script again when Redis forgot it).

A script file is named ``<structure>_<verb>-<number of keys>.lua``. A line
``--- @include "includes/x"`` is replaced by ``lua/includes/x.lua``; an include
reached twice through other includes is kept once.

A script that changes state runs inside ``lua/wrap/once.lua``: each call carries a key
of its own after the script's keys, where the reply is kept for ``CALL_TTL_MS``, so that
the same call sent again (a retry after a lost reply, a cluster redirection) returns the
first reply and changes nothing more. A script that changes nothing says so with a line
``--- @no-writes`` and runs as it is.

A script whose last keys serve an option only (the limits, ``lua/includes/limits.lua``) has
a variant without them, ``load(name, keys=n)``, for the structures that do not use the
option: each key is work for Redis on every call, even one the script never touches, and so
is each function a script defines. The variant includes ``includes/no_limits`` in place of
``includes/limits``: functions of the same names that pass through.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.typing import EncodableT

    from aiopyrq._base import Item

_INCLUDE = re.compile(r'^--- @include "([^"]+)"[ \t]*$', re.MULTILINE)
_NO_WRITES = re.compile(r"^--- @no-writes[ \t]*$", re.MULTILINE)
CALL_TTL_MS = 60_000
"""How long a call's reply is kept for a retry of the same call, in milliseconds."""
_NAME = re.compile(r"^\w+-(\d+)$")
_KEY = re.compile(r"\bKEYS\[(\d+)\]")
_WITHOUT_KEYS = {"includes/limits": "includes/no_limits"}
"""What a variant without an option's keys includes in place of the option's code."""
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


def expand(
    path: str,
    read: Any = _read,  # noqa: ANN401 - a callable, for tests
    swap: dict[str, str] | None = None,
) -> str:
    """Return the source of ``lua/<path>.lua`` with its includes expanded.

    Args:
        path: The file's path under ``lua/``, without ``.lua``.
        read: Reads a path to its text; the package's files by default.
        swap: Includes to expand in place of others (include -> its stand-in).

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
            target = (swap or {}).get(match.group(1), match.group(1))
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
    """One Lua script, called by its SHA1.

    Attributes:
        name: The file's name, without ``.lua``.
        source: What Redis runs: the file with its includes, in the call wrapper if once.
        sha: The SHA1 of the source.
        numkeys: How many keys of its own the script takes.
        once: The script changes state: each call names a call key after its own keys.
    """

    name: str
    source: str
    sha: str
    numkeys: int
    once: bool = False

    def call(
        self, keys: Sequence[str], args: Sequence[EncodableT], calls: Sequence[str] = ()
    ) -> Call:
        """Return the EVALSHA call of this script with these keys and arguments.

        Args:
            keys: The script's own keys.
            args: Its arguments.
            calls: A script that changes state: this call's key, then the keys of earlier
                calls whose replies came back, to delete.

        Raises:
            ValueError: The number of keys is not the script's, or the call keys are
                missing where the script needs them (or given where it does not).
        """
        if len(keys) != self.numkeys:
            msg = f"{self.name} takes {self.numkeys} keys, got {len(keys)}"
            raise ValueError(msg)
        if bool(calls) != self.once:
            msg = f"{self.name} takes {'a' if self.once else 'no'} call key"
            raise ValueError(msg)
        numkeys = len(keys) + len(calls)
        return Call(("EVALSHA", self.sha, numkeys, *keys, *calls, *args), self, len(calls))


@dataclass(frozen=True)
class Call:
    """One command to send: a plain command, or a script's EVALSHA."""

    args: tuple[EncodableT, ...]
    script: Script | None = None
    calls: int = 0  # call keys after the script's own keys

    @property
    def key(self) -> str:
        """The first key the call touches: on a cluster, it names the slot."""
        return str(self.args[3] if self.script is not None else self.args[1])

    @property
    def identity(self) -> tuple[EncodableT, ...]:
        """What makes two script calls the same call: the script, its keys, its arguments."""
        own = 3 + (self.script.numkeys if self.script is not None else 0)
        return (self.args[1], *self.args[3:own], *self.args[own + self.calls :])

    @property
    def call_key(self) -> str | None:
        """The key that keeps this call's reply, for a script that changes state."""
        if self.script is None or not self.script.once:
            return None
        return str(self.args[3 + self.script.numkeys])


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
def load(name: str, keys: int | None = None) -> Script:
    """Return the script ``lua/<name>.lua``, read and expanded once per process.

    Args:
        name: The file's name, without ``.lua``.
        keys: The variant that takes only the first ``keys`` of the script's keys: in its
            source, a ``KEYS[i]`` beyond them is ``nil`` (the script must not need it when
            called without the arguments of the option those keys serve).

    Raises:
        ValueError: The file name does not end in ``-<number of keys>``, or keys is not
            below that number.
    """
    match = _NAME.match(name)
    if match is None:
        msg = f"script name {name!r} does not end in -<number of keys>"
        raise ValueError(msg)
    numkeys = int(match.group(1))
    source = expand(name, swap=_WITHOUT_KEYS if keys is not None else None)
    if keys is not None:
        if not 0 < keys < numkeys:
            msg = f"{name} has {numkeys} keys: a variant takes 1 to {numkeys - 1}, not {keys}"
            raise ValueError(msg)
        source = _KEY.sub(lambda key: key[0] if int(key[1]) <= keys else "nil", source)
        name, numkeys = f"{name} (its first {keys} keys)", keys
    once = _NO_WRITES.search(source) is None
    if once:
        wrapper = expand("wrap/once").replace("@numkeys", str(numkeys))
        wrapper = wrapper.replace("@ttl", str(CALL_TTL_MS))
        source = wrapper.replace("--- @script", source.rstrip("\n"))
    sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
    return Script(name, source, sha, numkeys, once)
