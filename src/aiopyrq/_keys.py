"""The one place where Redis key names are built.

The names are exactly those of aio-py-rq 4.x and py-rq 5.x, so one deployment can
run old and new consumers side by side.
"""

from __future__ import annotations

import functools
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


def shard_of(name: str) -> tuple[str, int] | None:
    """The sharded queue and number of the shard ``name`` (``NAME:index``), or None."""
    match = _SHARD.fullmatch(name)
    return (match[1], int(match[2])) if match else None


_SHARD = re.compile(r"(.+):(0|[1-9][0-9]*)", re.DOTALL)


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
    suffixes = "|".join(re.escape(key.removeprefix(keys.queue)) for key in keys.kind_keys[1:])
    number = rf"{re.escape(before)}(0|[1-9][0-9]*){re.escape(after)}"
    glob = re.sub(r"([\\*?[\]])", r"\\\1", before) + "*"
    return glob, re.compile(rf"{number}({suffixes})?")


def names_of_key(key: str, *, cluster: bool) -> list[str]:
    """The names of the structures whose own key, set, leases, dead letters or history ``key`` is.

    ``orders-dead`` may be the dead letters of ``orders`` or the list of a queue of that
    name: both are returned, the shortest first. On a cluster ``{orders}-dead`` gives
    ``orders``; a key that no structure has there (no hash tag) gives nothing.
    """
    own_keys = [key.removesuffix(s) for s in _SUFFIXES if key.endswith(s) and len(key) > len(s)]
    names = [_name_of(own, cluster=cluster) for own in [*own_keys, key]]
    return sorted({name for name in names if name}, key=len)


def own_key_prefixes(key: str) -> list[str]:
    """The beginnings of ``key`` that may be the own key of a structure that ``key`` is of.

    Every other key of a structure is its own key followed by ``-`` (see ``QueueKeys``):
    ``a-b-dead`` may be of ``a-b-dead``, ``a-b`` or ``a``.
    """
    return [key, *(key[:i] for i in range(len(key) - 1, 0, -1) if key[i] == "-")]


def is_inner_key(key: str, *, cluster: bool) -> bool:
    """Tell whether ``key`` is a key that a structure keeps beside those telling its kind.

    A processing list, the reply of a call, a Pool's wake-up token ...: such a key is
    never a structure of its own, even when the structure it is of has no key left.
    """
    for own in own_key_prefixes(key)[1:]:
        name = _name_of(own, cluster=cluster)
        keys = QueueKeys(name, cluster=cluster) if name else None
        if keys and keys.queue == own and keys.owns(key) and key not in keys.kind_keys:
            return True
    return False


def _name_of(own_key: str, *, cluster: bool) -> str | None:
    """The name of the structure whose own key is ``own_key``, if one has it."""
    if not cluster:
        return own_key
    inner = own_key[1:-1]
    if own_key == f"{{{inner}}}" and QueueKeys(inner, cluster=True).queue == own_key:
        return inner
    return own_key if has_hash_tag(own_key) else None


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
    def kind_keys(self) -> tuple[str, str, str, str, str, str]:
        """The keys whose types tell the kind: own key, unique set, leases, dead, delayed, priority.

        A queue whose items are all delayed has only ``NAME-delayed``, one whose items are all
        prioritised ``NAME-priority``: it is still a queue.
        """
        return self.queue, self.unique, self.timeouts, self.dead, self.delayed, self.priority

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
    def dead_records(self) -> str:
        """The hash: dead item -> JSON record of its last death (why, when, by whom)."""
        return f"{self.queue}-dead-records"

    @property
    def delayed(self) -> str:
        """Queue, UniqueQueue: the sorted set of delayed items, scored by due time (unix ms)."""
        return f"{self.queue}-delayed"

    @property
    def priority(self) -> str:
        """Queue, UniqueQueue: the sorted set of the prioritised items waiting (``_priority``)."""
        return f"{self.queue}-priority"

    @property
    def priorities(self) -> str:
        """Queue, UniqueQueue: the hash item -> priority of the prioritised items not done."""
        return f"{self.queue}-priorities"

    @property
    def history(self) -> str:
        """The hash of per-minute counts of the last 24 hours (``aiopyrq._history``)."""
        return f"{self.queue}-history"

    @property
    def wakeup(self) -> str:
        """Pool: a one-token list a waiting get blocks on, pushed when items are added."""
        return f"{self.queue}-wakeup"

    @property
    def rate(self) -> str:
        """Queue, UniqueQueue with a rate limit: the sorted set of the gets in its window."""
        return f"{self.queue}-rate"

    @property
    def in_flight(self) -> str:
        """Queue, UniqueQueue with max_in_flight: the hash processing list -> items held."""
        return f"{self.queue}-in-flight"

    @property
    def in_flight_freed(self) -> str:
        """Queue, UniqueQueue with max_in_flight: a token per item freed, for waiting gets."""
        return f"{self.queue}-in-flight-freed"

    @property
    def limits(self) -> list[str]:
        """The keys of the limits, last in the scripts that take or free items."""
        return [self.rate, self.in_flight, self.in_flight_freed]

    @property
    def recovery_lock(self) -> str:
        """The lock that lets one consumer at a time recover the others' items."""
        return f"{self.queue}-recovery-lock"

    def owns(self, key: str) -> bool:
        """Tell whether ``key`` is one of this structure's keys.

        Its keys are the values of this class's properties and what its methods that make
        a key (``processing``, ``call``) make of any argument: a key added to this class is
        owned with nothing more to do (``aiopyrq ls`` then lists no structure of that name).
        """
        fixed, prefixes = self._keys_owned
        return key in fixed or key.startswith(prefixes)

    @functools.cached_property
    def _keys_owned(self) -> tuple[frozenset[str], tuple[str, ...]]:
        """The keys of the properties, and the beginnings of the keys the methods make."""
        members = [(name, member) for name, member in vars(QueueKeys).items() if name[0] != "_"]
        values = [getattr(self, name) for name, member in members if isinstance(member, property)]
        makers = [
            member
            for _, member in members
            if callable(member) and member.__annotations__.get("return") == "str"
        ]
        fixed = frozenset(value for value in values if isinstance(value, str))
        return fixed, tuple(maker(self, "") for maker in makers)

    def call(self, call_id: str) -> str:
        """The key that keeps the reply of one call for a retry of the same call."""
        return f"{self.queue}-call-{call_id}"

    def processing(self, consumer_id: str) -> str:
        """The list of the items a consumer holds."""
        return f"{self.queue}-processing-{consumer_id}"


# What each key telling a kind adds to the own key (-unique, -timeouts, -dead, -delayed,
# -priority), and the history, which every structure keeps (a Pool too): a structure whose
# items are all gone keeps it for a day.
_SUFFIXES = tuple(
    key.removeprefix("N") for key in (*QueueKeys("N").kind_keys[1:], QueueKeys("N").history)
)
