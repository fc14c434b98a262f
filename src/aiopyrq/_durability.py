"""Durability after a write: WAIT for replicas, WAITAOF for fsyncs, on the write's connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from aiopyrq.errors import NotEnoughFsyncedError, NotEnoughSyncedSlavesError, WaitAofError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.typing import EncodableT


DEFAULT_REPLICAS = 0
"""``synced_slaves_count``'s default: how many replicas WAIT waits for."""
DEFAULT_TIMEOUT_MS = 100
"""How long WAIT and WAITAOF may take by default, in milliseconds."""


@dataclass(frozen=True)
class Durability:
    """What each write waits for before it returns: replicas (WAIT), fsyncs (WAITAOF).

    Give one to any structure as ``durability=``, in place of the keyword options
    ``synced_slaves_*`` and ``fsync_*``. ``Durability()`` waits for nothing.

    Attributes:
        replicas: WAIT until this many replicas have the write (None: no WAIT).
        fsync_local: WAITAOF until the master has written it to its append-only file
            (Redis 7.2+ or Valkey, ``appendonly yes``).
        fsync_replicas: WAITAOF until this many replicas have (None: no WAITAOF, or
            WAITAOF for the master alone with fsync_local).
        timeout_ms: How long each wait may take, in milliseconds (> 0).

    Raises:
        TypeError: A field has the wrong type.
        ValueError: A field is out of range.
    """

    replicas: int | None = None
    fsync_local: bool = False
    fsync_replicas: int | None = None
    timeout_ms: int = DEFAULT_TIMEOUT_MS

    def __post_init__(self) -> None:
        """Check the fields; without fsync_local, 0 fsync_replicas is no WAITAOF at all."""
        if self.replicas is not None:
            _check_int(self.replicas, "replicas")
        if not isinstance(self.fsync_local, bool):
            msg = f"fsync_local must be a bool, not {type(self.fsync_local).__name__}"
            raise TypeError(msg)
        if self.fsync_replicas is not None:
            _check_int(self.fsync_replicas, "fsync_replicas")
        _check_int(self.timeout_ms, "timeout_ms", minimum=1)
        fsyncs = self.fsync_replicas or 0
        object.__setattr__(self, "fsync_replicas", fsyncs if self.fsync_local or fsyncs else None)

    def commands(self) -> list[tuple[EncodableT, ...]]:
        """The commands to send after the write, on its connection."""
        commands: list[tuple[EncodableT, ...]] = []
        if self.replicas is not None:
            commands.append(("WAIT", self.replicas, self.timeout_ms))
        if self.fsync_replicas is not None:
            local = int(self.fsync_local)
            commands.append(("WAITAOF", local, self.fsync_replicas, self.timeout_ms))
        return commands

    def check(self, replies: Sequence[Any]) -> None:
        """Raise if the replies to ``commands()`` fall short.

        Raises:
            NotEnoughSyncedSlavesError: WAIT counted fewer replicas than asked.
            NotEnoughFsyncedError: WAITAOF counted fewer fsyncs than asked.
            WaitAofError: The server cannot run WAITAOF as asked.
        """
        replies = list(replies)
        if self.replicas is not None:
            synced = replies.pop(0)
            if isinstance(synced, Exception):
                raise synced
            if synced < self.replicas:
                raise NotEnoughSyncedSlavesError(synced, self.replicas)
        if self.fsync_replicas is not None:
            fsynced = replies.pop(0)
            if isinstance(fsynced, ResponseError):
                raise WaitAofError(str(fsynced)) from fsynced
            if isinstance(fsynced, Exception):
                raise fsynced
            local, remote = int(fsynced[0]), int(fsynced[1])
            if local < int(self.fsync_local) or remote < self.fsync_replicas:
                raise NotEnoughFsyncedError(
                    local, remote, int(self.fsync_local), self.fsync_replicas
                )


def from_options(  # noqa: PLR0913 - the original library's options, and WAITAOF's
    durability: Durability | None,
    *,
    synced_slaves_enabled: bool | None,
    synced_slaves_count: int | None,
    synced_slaves_timeout: int | None,
    fsync_local: bool | None,
    fsync_replicas: int | None,
) -> Durability | None:
    """What a structure's writes wait for, from ``durability`` or from the keyword options.

    Returns:
        The durability, or None if the writes wait for nothing.

    Raises:
        TypeError: Both are given, or an option has the wrong type.
        ValueError: An option is out of range.
    """
    options = {
        "synced_slaves_enabled": synced_slaves_enabled,
        "synced_slaves_count": synced_slaves_count,
        "synced_slaves_timeout": synced_slaves_timeout,
        "fsync_local": fsync_local,
        "fsync_replicas": fsync_replicas,
    }
    if durability is not None:
        given = [option for option, value in options.items() if value is not None]
        if given:
            msg = f"give durability or the options {', '.join(given)}, not both"
            raise TypeError(msg)
        if not isinstance(durability, Durability):
            msg = f"durability must be an aiopyrq.Durability, not {type(durability).__name__}"
            raise TypeError(msg)
    else:
        count = _check_int(
            DEFAULT_REPLICAS if synced_slaves_count is None else synced_slaves_count,
            "synced_slaves_count",
        )
        timeout = _check_int(
            DEFAULT_TIMEOUT_MS if synced_slaves_timeout is None else synced_slaves_timeout,
            "synced_slaves_timeout",
            minimum=1,
        )
        if fsync_replicas is not None:
            _check_int(fsync_replicas, "fsync_replicas")
        durability = Durability(
            replicas=count if synced_slaves_enabled else None,
            fsync_local=bool(fsync_local),
            fsync_replicas=fsync_replicas,
            timeout_ms=timeout,
        )
    return durability if durability.commands() else None


def _check_int(value: object, what: str, *, minimum: int = 0) -> int:
    """Return value if it is an int of at least minimum (as ``_base.check_int``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{what} must be an int, not {type(value).__name__}"
        raise TypeError(msg)
    if value < minimum:
        msg = f"{what} must be at least {minimum}, got {value}"
        raise ValueError(msg)
    return value
