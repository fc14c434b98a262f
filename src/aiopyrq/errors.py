"""Exceptions raised by aiopyrq.

The tree::

    AiopyrqError
     └── NotEnoughSyncedSlavesError

Bad arguments raise the standard ``TypeError`` and ``ValueError`` before anything is
written. Errors of the Redis client itself (``redis.exceptions.ConnectionError``,
``TimeoutError``, ``ResponseError`` ...) pass through unchanged.
"""

from __future__ import annotations

__all__ = ["AiopyrqError", "NotEnoughSyncedSlavesError"]


class AiopyrqError(Exception):
    """Base class of every error aiopyrq raises itself."""


class NotEnoughSyncedSlavesError(AiopyrqError):
    """A write reached fewer replicas than required within the timeout.

    The write itself is done on the master; it may be lost if the master fails
    before the replicas catch up.

    Attributes:
        synced: How many replicas acknowledged the write.
        required: How many were required.
    """

    def __init__(self, synced: int, required: int) -> None:
        """Build the error from the WAIT reply and the requirement."""
        super().__init__(f"There are only {synced} synced slaves. Required {required}")
        self.synced = synced
        self.required = required
