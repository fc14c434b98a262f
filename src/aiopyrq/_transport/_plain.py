"""The plain path: script calls on redis-py's public API only.

A call is ``execute_command``, a round trip of several commands a pipeline of the client's
(``client.pipeline()``), so redis-py's retries, connection handling, hooks and metrics apply
as to any of its commands. On a ``RedisCluster`` every command of a round trip names the
master of its key (``target_nodes``): the pipeline sends them on one of that master's
connections, so WAIT and WAITAOF wait for the writes just before them.

It costs the client more CPU per call than the fast path, and works with any redis-py the
package supports and any connection class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redis.asyncio.cluster import RedisCluster
from redis.client import NEVER_DECODE

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.typing import EncodableT

    Command = tuple[EncodableT, ...]


async def execute(
    client: Redis | RedisCluster,
    *args: EncodableT,
    shared: bool = True,  # noqa: ARG001 - every call goes alone here
    raw: bool = False,
) -> Any:  # noqa: ANN401 - a Redis reply
    """Send one command and return its reply, as ``execute_command`` does.

    Args:
        client: The client.
        *args: The command.
        shared: Ignored: the fast path lets small calls share round trips.
        raw: Return the reply's strings as bytes, even on a client that decodes.
    """
    if raw:
        return await client.execute_command(*args, **{NEVER_DECODE: True})
    return await client.execute_command(*args)


async def ready(client: Redis | RedisCluster) -> None:
    """Let a cluster client learn the slot map before its first command.

    redis-py's cluster client, first used by many tasks at once, may close connections
    that other tasks are writing to; learning the map first (once: later a no-op) spares
    every call that.
    """
    if isinstance(client, RedisCluster):
        await client.initialize()


async def pipeline(client: Redis | RedisCluster, commands: list[Command], key: str) -> list[Any]:
    """Send commands in one round trip on one connection; errors come back as replies.

    Args:
        client: The client.
        commands: The commands, in order.
        key: A key of the commands: on a cluster, its master gets them all.
    """
    if isinstance(client, RedisCluster):
        await client.initialize()  # learns the slots on a client's first command; then a no-op
        node = client.get_node_from_key(key)
        cluster_pipe = client.pipeline()
        for command in commands:
            cluster_pipe.execute_command(*command, target_nodes=node)
        return await cluster_pipe.execute(raise_on_error=False)
    pipe = client.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    return await pipe.execute(raise_on_error=False)
