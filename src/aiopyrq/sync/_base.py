# Generated from src/aiopyrq/_base.py by `make unasync`: do not edit.
"""What Queue, UniqueQueue and Pool share: the client, replica acknowledgement, input checks."""

from __future__ import annotations

import inspect
import itertools
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from redis import ConnectionPool, Redis
from redis.cluster import RedisCluster
from redis.connection import AbstractConnection

from aiopyrq import _scripts
from aiopyrq._durability import Durability, from_options
from aiopyrq._history import HistoryMinute, check_minutes, parse
from aiopyrq._keys import QueueKeys
from aiopyrq.sync import _transport

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from redis.typing import EncodableT
    from typing_extensions import Self

    from aiopyrq.sync._types import Item as Item  # noqa: PLC0414 - _scripts imports it from here

# The socket timeout of a connection made without one (5 s in redis-py 8, none before).
_DEFAULT_SOCKET_TIMEOUT = inspect.signature(AbstractConnection).parameters["socket_timeout"].default

_ITEM_TYPES = frozenset({str, bytes, int, float})

SHARED_ITEMS = 10
"""A script call of up to this many items may share a round trip with other small calls; a
larger one goes alone, so that Redis works on it while the client handles other replies."""

CHUNK_ITEMS = 1_000
"""The most items one script call adds or takes. A larger add or get is split into calls of
this many, each atomic on its own, so that no script holds Redis for more than a few
milliseconds, however large the call."""

REMEMBERED_FAILURES = 64
"""How many failed calls a structure remembers, to send again with the same call key."""

FORGET_PER_CALL = 8
"""Keys of earlier calls whose replies came back, deleted together by one later call: one
DEL of 8 keys every 8 calls instead of one DEL per call."""


def check_name(name: object) -> str:
    """Return a structure's name, refusing what cannot name a Redis key."""
    if not isinstance(name, str):
        msg = f"name must be a str, not {type(name).__name__}"
        raise TypeError(msg)
    if not name:
        msg = "name must not be empty"
        raise ValueError(msg)
    return name


def check_item(item: object) -> Item:
    """Return the item, or raise TypeError for what Redis would not store as given."""
    if isinstance(item, bool) or not isinstance(item, str | bytes | int | float):
        msg = f"an item must be str, bytes, int or float, not {type(item).__name__}"
        raise TypeError(msg)
    return item


def check_items(items: Iterable[Item]) -> list[Item]:
    """Return the items as a list, all checked before anything is written."""
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        msg = f"items must be an iterable of items, not {type(items).__name__}"
        raise TypeError(msg)
    checked = list(items)
    for item in checked:
        if type(item) not in _ITEM_TYPES:  # the exact types pass at once; the rest are looked at
            check_item(item)
    return checked


def check_decodes(item: bytes, encoding: str, errors: str) -> None:
    """Refuse bytes that a client decoding replies with this encoding could not read back."""
    try:
        item.decode(encoding, errors)
    except UnicodeDecodeError as error:
        msg = (
            f"item {item[:40]!r} is not {encoding}: this client decodes replies, so it could "
            "not read the item back (use a client with decode_responses=False for binary items)"
        )
        raise ValueError(msg) from error


def _decoded(item: bytes, encoding: str, errors: str) -> str | bytes:
    """The item decoded, or as it is if it does not decode."""
    try:
        return item.decode(encoding, errors)
    except UnicodeDecodeError:
        return item


def chunked(items: list[Item]) -> list[list[Item]]:
    """The items in chunks of at most CHUNK_ITEMS, in order."""
    if len(items) <= CHUNK_ITEMS:
        return [items]
    return [items[i : i + CHUNK_ITEMS] for i in range(0, len(items), CHUNK_ITEMS)]


def check_int(value: object, what: str, *, minimum: int = 0) -> int:
    """Return value if it is an int of at least minimum."""
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{what} must be an int, not {type(value).__name__}"
        raise TypeError(msg)
    if value < minimum:
        msg = f"{what} must be at least {minimum}, got {value}"
        raise ValueError(msg)
    return value


def check_wait(value: object) -> float:
    """Return a number of seconds to wait, refusing what is not a non-negative number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"wait must be a number of seconds, not {type(value).__name__}"
        raise TypeError(msg)
    if not value >= 0:
        msg = f"wait must be at least 0 seconds, got {value}"
        raise ValueError(msg)
    return float(value)


class Structure:
    """A named structure in Redis, reached through one client.

    Args:
        name: The name of the structure, the prefix of its keys. On a cluster client, a
            name without a hash tag gets one (``{name}``), so that all its keys share a slot.
        redis: A ``redis.Redis`` or ``RedisCluster`` client, or a
            ``ConnectionPool`` to make a Redis client.
        durability: What each write waits for (``aiopyrq.Durability``); or the options:
        synced_slaves_enabled: After each write, wait for replicas to acknowledge it (WAIT).
        synced_slaves_count: How many replicas must acknowledge a write (default 0).
        synced_slaves_timeout: How long to wait, in milliseconds (> 0), for WAIT and WAITAOF
            (default 100).
        fsync_local: After each write, wait until the master has fsynced it to its
            append-only file (WAITAOF; Redis 7.2+ or Valkey, ``appendonly yes``).
        fsync_replicas: After each write, wait until this many replicas have fsynced it.

    Raises:
        TypeError: An argument has the wrong type, or durability comes with the options.
        ValueError: An argument is out of range.
    """

    _read_history: ClassVar[_scripts.Script] = _scripts.load("queue_history-1")

    def __init__(  # noqa: PLR0913 - the original library's options, and WAITAOF's
        self,
        name: str,
        redis: Redis | RedisCluster | ConnectionPool,
        *,
        durability: Durability | None = None,
        synced_slaves_enabled: bool | None = None,
        synced_slaves_count: int | None = None,
        synced_slaves_timeout: int | None = None,
        fsync_local: bool | None = None,
        fsync_replicas: int | None = None,
    ) -> None:
        self.name = check_name(name)
        if isinstance(redis, ConnectionPool):
            redis = Redis(connection_pool=redis)
        elif not isinstance(redis, Redis | RedisCluster):
            msg = f"redis must be a redis.Redis, RedisCluster or ConnectionPool: {redis!r}"
            raise TypeError(msg)
        self.redis: Redis | RedisCluster = redis
        self.keys = QueueKeys(self.name, cluster=isinstance(redis, RedisCluster))
        self._owns_client = False
        prefix = os.urandom(6).hex()  # call ids: unique to this object, then counted
        self._call_ids = map(f"{prefix}-{{:x}}".format, itertools.count())
        self._replied: list[str] = []  # keys of calls whose replies came back: to delete
        self._failed: dict[tuple[EncodableT, ...], str] = {}  # a failed call -> its call key
        encoder = redis.get_encoder()
        self._encoding: tuple[str, str] = (encoder.encoding, encoder.encoding_errors)
        self._decodes = bool(encoder.decode_responses)
        self._durability: Durability | None = from_options(
            durability,
            synced_slaves_enabled=synced_slaves_enabled,
            synced_slaves_count=synced_slaves_count,
            synced_slaves_timeout=synced_slaves_timeout,
            fsync_local=fsync_local,
            fsync_replicas=fsync_replicas,
        )

    @classmethod
    def from_url(cls, name: str, url: str, **options: Any) -> Self:  # noqa: ANN401
        """Connect to ``url`` (``redis://``, ``rediss://``, ``unix://``) with a client of its own.

        The client decodes replies to ``str``; ``close()`` or ``with`` closes it.

        Args:
            name: The name of the structure.
            url: The Redis URL.
            **options: The structure's options, as for the constructor.

        Returns:
            The structure.
        """
        structure = cls(name, Redis.from_url(url, decode_responses=True), **options)
        structure._owns_client = True
        return structure

    def close(self) -> None:
        """Close the client if ``from_url`` made it; a client passed in stays open."""
        if self._owns_client:
            self.redis.close()

    def __enter__(self) -> Self:
        """Use the structure in ``with``."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close what ``from_url`` opened."""
        self.close()

    def get_history(self, minutes: int = 60) -> list[HistoryMinute]:
        """Return what the structure went through in each of the last ``minutes`` minutes.

        The scripts count, per minute of the server's clock, the items added, delivered,
        acked, failed, recovered and dead-lettered (see ``aiopyrq.HistoryMinute``), in the
        hash ``NAME-history``, kept for the last 24 hours.

        Args:
            minutes: How many minutes, from 1 to 1,440.

        Returns:
            One ``HistoryMinute`` per minute, the oldest first, the last the current minute
            by the server's clock; a minute without activity has zero counts and waiting
            None.

        Raises:
            TypeError: minutes is not an int.
            ValueError: minutes is not from 1 to 1,440.
        """
        check = check_minutes(minutes)
        now, *values = self._script(
            self._read_history, [self.keys.history], [check], write=False
        )
        return parse(int(now), values)

    def _new_items(self, items: Iterable[Item]) -> list[Item]:
        """Check items to add: the accepted types, and bytes this client can read back.

        A client that decodes replies could not read an item that does not decode.

        Raises:
            TypeError: An item is not str, bytes, int or float.
            ValueError: An item is bytes the client could not decode when it reads it back.
        """
        checked = check_items(items)
        if self._decodes:
            encoding, errors = self._encoding
            for item in checked:
                if type(item) is bytes:
                    check_decodes(item, encoding, errors)
        return checked

    def _pack(self, items: Sequence[Item]) -> bytes:
        """Pack checked items for a script, encoded as this client encodes arguments."""
        return _scripts.pack(items, *self._encoding)

    def _block_for(self, left: float) -> float:
        """Seconds to block in one command: what is left, within the client's socket timeout."""
        timeout = self.redis.get_connection_kwargs().get("socket_timeout", _DEFAULT_SOCKET_TIMEOUT)
        if timeout:
            left = min(left, max(float(timeout) - 0.5, float(timeout) / 2))
        return round(max(left, 0.01), 3)

    def _read(self, *command: EncodableT, raw: bool = False) -> Any:  # noqa: ANN401 - Redis replies
        """Send a command that changes nothing (its reply's strings as bytes if raw)."""
        return _transport.send(self.redis, *command, raw=raw)

    def _items(self, replied: list[bytes]) -> list[Any]:
        """Items read as bytes, as this client reads strings: decoded if it decodes.

        An item this client cannot decode (written by a client that does not decode) comes
        back as bytes, so that one item never fails a whole batch.
        """
        if not self._decodes:
            return replied
        encoding, errors = self._encoding
        try:
            return [item.decode(encoding, errors) for item in replied]
        except UnicodeDecodeError:
            return [_decoded(item, encoding, errors) for item in replied]

    def _script(  # noqa: PLR0913 - a script call and how it goes
        self,
        script: _scripts.Script,
        keys: Sequence[str],
        args: Sequence[EncodableT],
        *,
        write: bool = True,
        items: int = 1,
        raw: bool = False,
    ) -> Any:  # noqa: ANN401 - the script's reply
        """Run one script of so many items; after a write, wait for the replicas if asked.

        With raw, the reply's strings come back as bytes, even on a client that decodes.
        """
        call = self._call(script, keys, args)
        try:
            if write and self._durability is not None:
                reply = (_transport.run_all(self.redis, [call], self._durability))[0]
            else:
                shared = items <= SHARED_ITEMS
                reply = _transport.run(self.redis, call, shared=shared, raw=raw)
        except BaseException:
            self._remember_failed([call])
            raise
        if call.call_key is not None:
            self._replied.append(call.call_key)
        return reply

    def _write(self, calls: Sequence[_scripts.Call], *, write: bool = True) -> list[Any]:
        """Send calls in one round trip; after writes, wait for the replicas if asked."""
        durability = self._durability if write else None
        try:
            replies = _transport.run_all(self.redis, calls, durability)
        except BaseException:
            self._remember_failed(calls)
            raise
        self._replied += [call.call_key for call in calls if call.call_key is not None]
        return replies

    def _remember_failed(self, calls: Sequence[_scripts.Call]) -> None:
        """Keep the call keys of calls that failed, for the same calls made again.

        A call that failed may have run all the same (its reply lost on the way back). The
        same call made again by its caller takes the same call key, and so gets the first
        run's reply instead of running twice.
        """
        for call in calls:
            if call.call_key is not None:
                self._failed[call.identity] = call.call_key
        while len(self._failed) > REMEMBERED_FAILURES:
            self._failed.pop(next(iter(self._failed)), None)  # another thread may trim too

    def _forget_failed(self) -> None:
        """Forget the failed calls: what they may have taken was given back since."""
        self._failed.clear()

    def _call(
        self, script: _scripts.Script, keys: Sequence[str], args: Sequence[EncodableT]
    ) -> _scripts.Call:
        """The call of a script; one that changes state gets a call key of its own.

        Once FORGET_PER_CALL earlier calls have had their replies, the call also deletes their
        keys: they will not be sent again, so their replies need not be kept.
        """
        if not script.once:
            return script.call(keys, args)
        key = self._failed.pop((script.sha, *keys, *args), None) if self._failed else None
        forget: list[str] = []
        if len(self._replied) >= FORGET_PER_CALL:
            forget = self._replied[:FORGET_PER_CALL]
            del self._replied[:FORGET_PER_CALL]
        return script.call(keys, args, [key or self.keys.call(next(self._call_ids)), *forget])
