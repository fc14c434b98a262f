"""What the integration tests share: item names, the server's clock, aged leases, waits, fleets.

Subprocess scripts the tests start live in ``tests/integration/procs`` (:data:`PROCS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from aiopyrq._history import DAY, SLOTS

if TYPE_CHECKING:
    from typing_extensions import Self

BOUND = 20  # seconds: the bound of a wait (reached at once when all goes well)
PROCS = Path(__file__).resolve().parent / "integration" / "procs"


def items_named(count: int, prefix: str = "item") -> list[str]:
    """``count`` distinct items: ``prefix-0``, ``prefix-1`` ..."""
    return [f"{prefix}-{i}" for i in range(count)]


def data_keys(keys) -> list:
    """The keys that hold a structure's data, sorted: without the replies of its calls.

    Every call that changes state leaves a key ``NAME-call-<id>`` holding its reply for a
    retry of the same call (deleted by later calls, expiring after a minute), and the
    scripts that count what they do keep ``NAME-history`` (expiring after a day).
    """
    return sorted(
        key for key in keys if "-call-" not in str(key) and not str(key).endswith("-history")
    )


def events(**counts: int | None) -> dict:
    """What ``history_totals`` gives when only these counts (and waiting) are not 0 (None)."""
    nothing = {"added": 0, "delivered": 0, "acked": 0, "failed": 0, "recovered": 0, "dead": 0}
    return {**nothing, "waiting": None, **counts}


def history_slot(minute: int, counts: dict[str, int]) -> dict[str, int]:
    """The fields of a minute's slot as the scripts write them (lua/includes/history.lua).

    ``counts``: a count per field letter (``a`` added, ``d``, ``k``, ``f``, ``r``, ``x``,
    ``w`` waiting), each stamped with the minute's day.
    """
    slot, stamp = minute % SLOTS, minute // SLOTS * DAY
    return {f"{slot}:{letter}": stamp + count for letter, count in counts.items()}


async def history_totals(structure, minutes: int = 3) -> dict:
    """A structure's history over its last minutes (a test's all), each count added up.

    ``waiting`` is that of the latest minute that knows it.
    """
    history = await structure.get_history(minutes)
    events = ("added", "delivered", "acked", "failed", "recovered", "dead")
    totals: dict = {event: sum(getattr(minute, event) for minute in history) for event in events}
    known = [minute.waiting for minute in history if minute.waiting is not None]
    return totals | {"waiting": known[-1] if known else None}


async def waiting_in_shards(client, queue) -> Counter:
    """Every item waiting in a ShardedQueue's shards, counted."""
    found: Counter = Counter()
    for shard in queue.shards:
        found.update(await client.lrange(shard.keys.queue, 0, -1))
    return found


async def server_now(client) -> int:
    """The server's clock in whole unix seconds: the clock the scripts use."""
    seconds, _ = await client.time()
    return seconds


async def server_ms(client, key: str | None = None) -> int:
    """The server's clock in unix milliseconds (on a cluster: the master of key)."""
    if key is not None and hasattr(client, "get_node_from_key"):
        await client.initialize()  # the slot map, for a client that has sent nothing yet
        node = client.get_node_from_key(key)
        seconds, micros = await client.time(target_nodes=node)
    else:
        seconds, micros = await client.time()
    return seconds * 1000 + micros // 1000


async def start_consumer(url: str, name: str, kind: str, *options: str):
    """Start ``procs/consumer.py`` on a queue (batches of 10) and wait until it is READY."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(PROCS / "consumer.py"), url, name, kind, "10", *options,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    words = (await asyncio.wait_for(process.stdout.readline(), BOUND)).decode().split()
    assert words[:1] == ["READY"], words
    return process


async def held_by_all(client, name: str) -> int:
    """The items in every processing list of the queue ``name``."""
    return sum([await client.llen(key) for key in await client.keys(f"{name}-processing-*")])


async def age_lease(queue, seconds: int, client=None) -> None:
    """Make a consumer's last get or heartbeat look ``seconds`` old, as if time had passed.

    ``client`` is the queue's own client (``queue.redis``) unless given.
    """
    client = queue.redis if client is None else client
    now = await server_now(client)
    await client.hset(queue.timeouts_hash_name, queue.processing_queue_name, now - seconds)


async def age_leases(queue, seconds: int) -> None:
    """Age the consumer's lease on every shard of a ShardedQueue."""
    for shard in queue.shards:
        await age_lease(shard, seconds)


async def until(condition, what: str = "the condition", timeout: float = BOUND, explain=None):
    """Poll ``condition()`` (sync or async) until it is true, at most ``timeout`` seconds.

    ``explain()`` (async) returns what the failure message adds: the state not reached.
    """
    for _ in range(int(timeout / 0.02)):
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.02)
    found = await explain() if explain else ""
    pytest.fail(f"{what} not reached within {timeout} s {found}".rstrip())


class Fleet:
    """Consumer processes running a script of :data:`PROCS`, killed on the way out.

    Each script prints ``READY`` and its processing lists once it runs; the fleet knows a
    consumer by its first list (``live``) and all its lists (``lists``). Use it as
    ``async with Fleet(...) as fleet``.
    """

    def __init__(self, script: str | tuple[str, ...], *args: str) -> None:
        """Run ``python PROCS/script args...`` for each consumer (several scripts: in turn)."""
        scripts = (script,) if isinstance(script, str) else script
        self.commands = itertools.cycle([(sys.executable, str(PROCS / s), *args) for s in scripts])
        self.live: dict[str, asyncio.subprocess.Process] = {}
        self.lists: dict[str, list[str]] = {}
        self.all: list[asyncio.subprocess.Process] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.kill_all()

    async def start(self, count: int = 1) -> None:
        """Start count consumers; return once each has printed READY."""
        for _ in range(count):
            process = await asyncio.create_subprocess_exec(
                *next(self.commands), stdout=asyncio.subprocess.PIPE
            )
            self.all.append(process)
            words = (await asyncio.wait_for(process.stdout.readline(), BOUND)).decode().split()
            assert words[:1] == ["READY"], words
            self.live[words[1]] = process
            self.lists[words[1]] = words[1:]

    async def kill(self, processing: str) -> list[str]:
        """SIGKILL the consumer known by this processing list; return all its lists."""
        process = self.live.pop(processing)
        process.kill()
        await process.wait()
        return self.lists.pop(processing)

    async def stop(self) -> list[list[str]]:
        """SIGTERM every live consumer; check each exits 0; return their STOPPED lines."""
        for process in self.live.values():
            process.send_signal(signal.SIGTERM)
        lines = []
        for process in self.live.values():
            code = await asyncio.wait_for(process.wait(), BOUND)
            assert code == 0, f"consumer {process.pid} exited with {code}"
            lines.append((await process.stdout.read()).decode().split())
        self.live.clear()
        self.lists.clear()
        return lines

    async def kill_all(self) -> None:
        """SIGKILL whatever still runs (the way out of a failed test)."""
        for process in self.all:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            await process.wait()
