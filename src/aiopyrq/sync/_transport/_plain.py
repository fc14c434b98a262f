"""Script calls on redis-py's sync client: the sync twin of ``aiopyrq._transport._plain``.

A call is ``execute_command``, a round trip of several commands a pipeline of the client's;
on a ``RedisCluster`` every command of a round trip names the master of its key
(``target_nodes``), so WAIT and WAITAOF wait for the writes just before them. redis-py's
sync clients are safe to share between threads: each command takes a connection of the
pool for itself.

A blocking command that another thread may have to end (``Unblockable``: a waiting get that
hears of an item it would not wake for) goes on a connection held for it, whose CLIENT ID
that thread names in CLIENT UNBLOCK.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING, Any

from redis.client import NEVER_DECODE
from redis.cluster import RedisCluster
from redis.exceptions import AskError, RedisClusterException, RedisError, TryAgainError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from redis import Redis
    from redis.typing import EncodableT

    Command = tuple[EncodableT, ...]


def execute(
    client: Redis | RedisCluster,
    *args: EncodableT,
    shared: bool = True,  # noqa: ARG001 - every call goes alone
    raw: bool = False,
) -> Any:  # noqa: ANN401 - a Redis reply
    """Send one command and return its reply, as ``execute_command`` does.

    Args:
        client: The client.
        *args: The command.
        shared: Ignored (the asyncio twin's fast path lets small calls share round trips).
        raw: Return the reply's strings as bytes, even on a client that decodes.
    """
    options = {NEVER_DECODE: True} if raw else {}
    unblockable: Unblockable | None = getattr(_here, "unblockable", None)
    if unblockable is not None:
        return unblockable.execute(client, args, options)
    untyped: Any = client  # redis-py's sync clients are untyped
    return untyped.execute_command(*args, **options)


def ready(client: Redis | RedisCluster) -> None:
    """Nothing to do: redis-py's sync cluster client learns the slot map when it is made."""
    del client


def pipeline(client: Redis | RedisCluster, commands: list[Command], key: str) -> list[Any]:
    """Send commands in one round trip on one connection; errors come back as replies.

    Args:
        client: The client.
        commands: The commands, in order.
        key: A key of the commands: on a cluster, its master gets them all.
    """
    untyped: Any = client  # redis-py's sync clients are untyped
    if isinstance(client, RedisCluster):
        node = untyped.get_node_from_key(key)
        cluster_pipe = untyped.pipeline()
        for command in commands:
            cluster_pipe.execute_command(*command, target_nodes=node)
        return list(cluster_pipe.execute(raise_on_error=False))
    pipe = untyped.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    return list(pipe.execute(raise_on_error=False))


UNBLOCK_TRIES = 10
"""How many times ``Unblockable.unblock`` sends CLIENT UNBLOCK while its command, sent, has
not blocked yet (Redis is still reading it)."""

UNBLOCK_PAUSE = 0.005
"""Seconds between two of those tries."""

_here = threading.local()  # .unblockable: the Unblockable of this thread's command, if any


class Unblockable:
    """One blocking command, sent on a connection held for it, that another thread may end.

    ``unblock`` ends the command as if it timed out (CLIENT UNBLOCK id TIMEOUT), and only
    while it is blocked: the id is known from the reply to CLIENT ID, on the held connection,
    until the command's reply comes back, and both ``unblock`` and the end of the command
    take the same lock. So an unblock that comes after the reply does nothing, and one under
    way holds the command's thread until Redis has answered it: it can never reach a later
    command on that connection. One that comes before the command is sent keeps it from
    being sent. Where something is missing (a user who may not run CLIENT, a client that
    cannot hold a connection), the command runs as usual, not ended early.
    """

    def __init__(self) -> None:
        """No command sent yet."""
        self._lock = threading.Lock()
        self._blocked: tuple[Redis, int] | None = None  # while blocked: the node, the id
        self.ended = False  # unblock() was called: a command not sent yet is not sent

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """Within it, the command this thread sends (``execute``) goes through this."""
        _here.unblockable = self
        try:
            yield
        finally:
            _here.unblockable = None

    def execute(
        self, client: Redis | RedisCluster, args: Command, options: dict[str, Any]
    ) -> Any:  # noqa: ANN401 - a Redis reply
        """Send the command (its first key: ``args[1]``) on a connection held for it."""
        untyped: Any = client  # redis-py's sync clients are untyped
        node = _node(client, args[1])
        held = None if node is None else _held(node)
        if node is None or held is None:
            return untyped.execute_command(*args, **options)
        try:
            return self._blocking(node, held, args, options)
        except (AskError, TryAgainError):  # the slot moves: the cluster client follows it
            return untyped.execute_command(*args, **options)
        finally:
            held.close()

    def _blocking(
        self, node: Redis, held: Any, args: Command, options: dict[str, Any]  # noqa: ANN401
    ) -> Any:  # noqa: ANN401 - a Redis reply
        """Send the command on the held connection, unblockable while it blocks."""
        try:
            client_id: int | None = int(held.client_id())
        except RedisError:  # not allowed (ACL): not ended early
            client_id = None
        with self._lock:
            if self.ended:  # before it was sent: as if it timed out at once
                return None
            if client_id is not None:
                self._blocked = (node, client_id)
        try:
            return held.execute_command(*args, **options)
        finally:
            with self._lock:
                self._blocked = None

    def unblock(self) -> None:
        """End the command as if it timed out: now if it blocks, at once if not sent yet.

        A command that has replied is not touched.
        """
        for _ in range(UNBLOCK_TRIES):
            with self._lock:
                self.ended = True
                if self._blocked is None:
                    return
                node, client_id = self._blocked
                try:
                    if node.client_unblock(client_id):
                        return
                except RedisError:  # not allowed: not ended early
                    return
            time.sleep(UNBLOCK_PAUSE)


def _node(client: Redis | RedisCluster, key: EncodableT) -> Redis | None:
    """The client of the server a command on the key goes to, or None if not known."""
    if not isinstance(client, RedisCluster):
        return client
    untyped: Any = client  # redis-py's sync clients are untyped
    try:
        node: Redis | None = untyped.get_node_from_key(key).redis_connection
    except RedisClusterException:  # no master for its slot now: the cluster client says why
        return None
    return node


def _held(client: Redis) -> Any:  # noqa: ANN401 - redis-py's sync clients are untyped
    """A client of one connection of the client's pool, or None if it cannot make one."""
    untyped: Any = client
    try:
        return untyped.client()
    except (TypeError, RedisError):  # a subclass made otherwise, no connection to hold
        return None
