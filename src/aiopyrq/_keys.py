"""The one place where Redis key names are built.

The names are exactly those of aio-py-rq 4.x and py-rq 5.x, so one deployment can
run old and new consumers side by side.
"""

from __future__ import annotations

import os
import re
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


def has_hash_tag(name: str) -> bool:
    """Tell whether a Redis Cluster hashes ``name`` by a ``{...}`` part of it."""
    start = name.find("{")
    return start >= 0 and name.find("}", start + 1) > start + 1


def shard_name(name: str, index: int | str) -> str:
    """The name of the shard ``index`` of the sharded queue ``name``: ``NAME:index``."""
    return f"{name}:{index}"


def shard_names(name: str, shards: int) -> tuple[str, ...]:
    """The names of the shards of the sharded queue ``name``: ``NAME:0`` ... ``NAME:<n-1>``."""
    return tuple(shard_name(name, i) for i in range(shards))


def shard_keys(name: str, *, cluster: bool) -> tuple[str, re.Pattern[str]]:
    """How to find the keys of the shards of the sharded queue ``name``.

    Returns:
        A SCAN glob that matches them, and a pattern that matches in full the list, set,
        lease hash, dead letters or delayed items of a shard, its group 1 the shard's number.
    """
    marker = "\0"
    keys = QueueKeys(shard_name(name, marker), cluster=cluster)
    before, _, after = keys.queue.partition(marker)
    telling = (keys.unique, keys.timeouts, keys.dead, keys.delayed)
    suffixes = "|".join(re.escape(key.removeprefix(keys.queue)) for key in telling)
    number = rf"{re.escape(before)}(0|[1-9][0-9]*){re.escape(after)}"
    glob = re.sub(r"([\\*?[\]])", r"\\\1", before) + "*"
    return glob, re.compile(rf"{number}({suffixes})?")


@dataclass(frozen=True)
class QueueKeys:
    """The keys of one structure named ``name``.

    On a cluster every key of a structure must hash to one slot: a name without a hash
    tag is wrapped in one (``{name}``); a name with one is used as it is. On a standalone
    server the keys are exactly the original library's.
    """

    name: str
    cluster: bool = False

    @property
    def queue(self) -> str:
        """The structure's own key: a queue's list of waiting items, or a Pool's sorted set."""
        if self.cluster and not has_hash_tag(self.name):
            return f"{{{self.name}}}"
        return self.name

    @property
    def unique(self) -> str:
        """UniqueQueue's set of the items waiting in the queue."""
        return f"{self.queue}-unique"

    @property
    def timeouts(self) -> str:
        """The hash: processing list name -> unix time of its last get."""
        return f"{self.queue}-timeouts"

    @property
    def retry_count(self) -> str:
        """The hash: item -> number of rollbacks counted."""
        return f"{self.queue}-retry-count"

    @property
    def retry_timeout(self) -> str:
        """The hash: item -> unix minute of its first counted rollback."""
        return f"{self.queue}-retry-timeout"

    @property
    def deliveries(self) -> str:
        """The hash: item -> deliveries that ended in a reject or a recovery (dead letters)."""
        return f"{self.queue}-deliveries"

    @property
    def dead(self) -> str:
        """The list of dead letters, the oldest first."""
        return f"{self.queue}-dead"

    @property
    def delayed(self) -> str:
        """Queue, UniqueQueue: the sorted set of delayed items, scored by due time (unix ms)."""
        return f"{self.queue}-delayed"

    @property
    def wakeup(self) -> str:
        """Pool: a one-token list a waiting get blocks on, pushed when items are added."""
        return f"{self.queue}-wakeup"

    @property
    def recovery_lock(self) -> str:
        """The lock that lets one consumer at a time recover the others' items."""
        return f"{self.queue}-recovery-lock"

    def call(self, call_id: str) -> str:
        """The key that keeps the reply of one call for a retry of the same call."""
        return f"{self.queue}-call-{call_id}"

    def processing(self, consumer_id: str) -> str:
        """The list of the items a consumer holds."""
        return f"{self.queue}-processing-{consumer_id}"
