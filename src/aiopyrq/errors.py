"""Exceptions raised by aiopyrq.

The tree::

    AiopyrqError
     ├── DurabilityError
     │    ├── NotEnoughSyncedSlavesError
     │    └── NotEnoughFsyncedError
     ├── MissingDependencyError (also an ImportError)
     └── WaitAofError

Bad arguments raise the standard ``TypeError`` and ``ValueError`` before anything is
written. Errors of the Redis client itself (``redis.exceptions.ConnectionError``,
``TimeoutError``, ``ResponseError`` ...) pass through unchanged. The command line's own
errors (a bad command line or URL, an unknown name, a key of the wrong type) derive from
``AiopyrqError`` too; ``aiopyrq`` turns them into its exit codes.
"""

from __future__ import annotations

__all__ = [
    "AiopyrqError",
    "DurabilityError",
    "MissingDependencyError",
    "NotEnoughFsyncedError",
    "NotEnoughSyncedSlavesError",
    "WaitAofError",
]


class AiopyrqError(Exception):
    """Base class of every error aiopyrq raises itself."""


class DurabilityError(AiopyrqError):
    """A write is done on the master, but not yet as durable as asked.

    It may be lost if the master fails before its replicas or its disk catch up.
    """


class NotEnoughSyncedSlavesError(DurabilityError):
    """A write reached fewer replicas than required within the timeout (WAIT).

    Attributes:
        synced: How many replicas acknowledged the write.
        required: How many were required.
    """

    def __init__(self, synced: int, required: int) -> None:
        """Build the error from the WAIT reply and the requirement."""
        super().__init__(f"There are only {synced} synced slaves. Required {required}")
        self.synced = synced
        self.required = required


class NotEnoughFsyncedError(DurabilityError):
    """A write reached the append-only files of fewer servers than required (WAITAOF).

    Attributes:
        local: 1 if the master fsynced the write, else 0.
        replicas: How many replicas fsynced it.
        required_local: 1 if the master's fsync was required.
        required_replicas: How many replicas' fsyncs were required.
    """

    def __init__(
        self, local: int, replicas: int, required_local: int, required_replicas: int
    ) -> None:
        """Build the error from the WAITAOF reply and the requirement."""
        super().__init__(
            f"fsynced on {local} master and {replicas} replicas; "
            f"required {required_local} and {required_replicas}"
        )
        self.local = local
        self.replicas = replicas
        self.required_local = required_local
        self.required_replicas = required_replicas


class MissingDependencyError(AiopyrqError, ImportError):
    """An optional part of aiopyrq needs a package that is not installed.

    The message names the extra to install, e.g. ``pip install 'aio-py-rq[prometheus]'``.
    """


class WaitAofError(AiopyrqError):
    """The server cannot wait for fsyncs as asked.

    WAITAOF needs Redis 7.2 or later (or Valkey), and ``appendonly yes`` on the master for
    a local fsync. The write itself is done.
    """
