"""The one place where Redis key names are built.

The names are exactly those of aio-py-rq 4.x and py-rq 5.x, so one deployment can
run old and new consumers side by side.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass


def new_consumer_id() -> str:
    """Return a consumer id of its own for each object: ``host[pid][seconds-random]``.

    The original id was ``host[pid][seconds]``, shared by every object created in
    the same second of one process. Eight random hex digits keep the readable
    prefix and make the id unique.
    """
    return f"{socket.gethostname()}[{os.getpid()}][{int(time.time())}-{os.urandom(4).hex()}]"


@dataclass(frozen=True)
class QueueKeys:
    """The keys of one Queue or UniqueQueue named ``name``."""

    name: str

    @property
    def queue(self) -> str:
        """The list of waiting items: pushed on the left, taken from the right."""
        return self.name

    @property
    def unique(self) -> str:
        """UniqueQueue's set of the items waiting in the queue."""
        return f"{self.name}-unique"

    @property
    def timeouts(self) -> str:
        """The hash: processing list name -> unix time of its last get."""
        return f"{self.name}-timeouts"

    @property
    def retry_count(self) -> str:
        """The hash: item -> number of rollbacks counted."""
        return f"{self.name}-retry-count"

    @property
    def retry_timeout(self) -> str:
        """The hash: item -> unix minute of its first counted rollback."""
        return f"{self.name}-retry-timeout"

    @property
    def deliveries(self) -> str:
        """The hash: item -> deliveries that ended in a reject or a recovery (dead letters)."""
        return f"{self.name}-deliveries"

    @property
    def dead(self) -> str:
        """The list of dead letters, the oldest first."""
        return f"{self.name}-dead"

    @property
    def recovery_lock(self) -> str:
        """The lock that lets one consumer at a time recover the others' items."""
        return f"{self.name}-recovery-lock"

    def processing(self, consumer_id: str) -> str:
        """The list of the items a consumer holds."""
        return f"{self.name}-processing-{consumer_id}"
