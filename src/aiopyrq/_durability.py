"""Durability after a write: WAIT for replicas, WAITAOF for fsyncs, on the write's connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from aiopyrq.errors import NotEnoughFsyncedError, NotEnoughSyncedSlavesError, WaitAofError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.typing import EncodableT


@dataclass(frozen=True)
class Durability:
    """What a write waits for before it returns.

    Attributes:
        replicas: WAIT until this many replicas have the write (None: no WAIT).
        fsync_local: WAITAOF until the master has written it to its append-only file.
        fsync_replicas: WAITAOF until this many replicas have (None: no WAITAOF).
        timeout: How long each wait may take, in milliseconds.
    """

    replicas: int | None
    fsync_local: bool
    fsync_replicas: int | None
    timeout: int

    def commands(self) -> list[tuple[EncodableT, ...]]:
        """The commands to send after the write, on its connection."""
        commands: list[tuple[EncodableT, ...]] = []
        if self.replicas is not None:
            commands.append(("WAIT", self.replicas, self.timeout))
        if self.fsync_replicas is not None:
            local = int(self.fsync_local)
            commands.append(("WAITAOF", local, self.fsync_replicas, self.timeout))
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
