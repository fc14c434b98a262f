"""Script calls on redis-py's sync client: the sync twin of ``aiopyrq._transport._plain``.

A call is ``execute_command``, a round trip of several commands a pipeline of the client's;
on a ``RedisCluster`` every command of a round trip names the master of its key
(``target_nodes``), so WAIT and WAITAOF wait for the writes just before them. redis-py's
sync clients are safe to share between threads: each command takes a connection of the
pool for itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redis.client import NEVER_DECODE
from redis.cluster import RedisCluster

if TYPE_CHECKING:
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
    untyped: Any = client  # redis-py's sync clients are untyped
    if raw:
        return untyped.execute_command(*args, **{NEVER_DECODE: True})
    return untyped.execute_command(*args)


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
