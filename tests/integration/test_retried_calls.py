"""A call sent again after a lost reply has the effect of one call.

The server is stopped (SIGSTOP) while a client with a short socket timeout and a retry
policy makes a call: every try times out and is sent again on a new connection, and when
the server runs again it reads every copy. Each test checks that the server did run the
call more than once, and that the state it left is the state of one call, made on twin
keys without a stall.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from aiopyrq import Pool, Queue, UniqueQueue
from aiopyrq._base import FORGET_PER_CALL
from aiopyrq._snapshot import MEMBER_PREFIX
from tests.harness import RedisServer
from tests.helpers import history_totals

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Iterator

pytestmark = [pytest.mark.redis, pytest.mark.slow]

TIMEOUT = 0.05  # seconds: the socket timeout of the retrying client
STALL = 0.4  # seconds the server stays stopped: several tries time out meanwhile
ITEMS = [f"item-{i}" for i in range(10)]
PREFIXED = {"-delayed", "-priority"}  # a Queue's members there: a prefix, then the item
LIMITS = {  # no limits; limits that stop take_all short of its 13 items
    "unlimited": {},
    "limited": {"max_in_flight": 12, "rate_limit": (12, 60)},
}


@pytest.fixture(scope="module")
def own_server() -> Iterator[RedisServer]:
    """A server of this module's own, to stop and start again."""
    with RedisServer() as server:
        yield server


@pytest.fixture
async def steady(own_server) -> AsyncIterator[redis.asyncio.Redis]:
    """A client that is never made to retry."""
    client = redis.asyncio.Redis.from_url(own_server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def retrying(own_server) -> AsyncIterator[redis.asyncio.Redis]:
    """A client that gives up on a reply after TIMEOUT and sends the command again."""
    client = redis.asyncio.Redis.from_url(
        own_server.url,
        decode_responses=True,
        socket_timeout=TIMEOUT,
        retry=Retry(NoBackoff(), 100),
    )
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def impatient(own_server) -> AsyncIterator[redis.asyncio.Redis]:
    """A client that gives up on a reply after TIMEOUT and does not retry."""
    client = redis.asyncio.Redis.from_url(
        own_server.url, decode_responses=True, socket_timeout=TIMEOUT, retry=Retry(NoBackoff(), 0)
    )
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def clients(own_server, steady, retrying) -> tuple[RedisServer, redis.asyncio.Redis, Any]:
    """The server, a client that never retries, and one that does."""
    return own_server, steady, retrying


async def runs(client: redis.asyncio.Redis) -> int:
    """How many script calls the server has run so far."""
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def sent_again(client: redis.asyncio.Redis, before: int) -> bool:
    """Whether the server ran a script call twice since before (copies of a call sent on
    connections given up are read in no set order: wait for them a little)."""
    for _ in range(50):
        if await runs(client) - before >= 2:
            return True
        await asyncio.sleep(0.02)
    return False


async def stalled(
    server: RedisServer, client: redis.asyncio.Redis, call: Awaitable[object]
) -> object:
    """Run call while the server is stopped for STALL seconds.

    The client has a connection open first: the call's first try is written to the server
    (a try on a new connection would wait for the connection instead).
    """
    await client.ping()
    server.pause()
    asyncio.get_running_loop().call_later(STALL, server.resume)
    try:
        return await call
    finally:
        server.resume()


async def state(client: redis.asyncio.Redis, structure: Queue | Pool) -> dict[str, Any]:
    """Every key of the structure, named by its suffix, without call keys or lease times.

    The history's counts, added up over the last minutes (the two structures' slots are
    those of different minutes if a minute ended between their calls), stand for its key.
    """
    found: dict[str, Any] = {"history": await history_totals(structure)}
    consumer = getattr(structure, "client_id", None)
    async for key in client.scan_iter(match=f"{structure.name}*", count=1000):
        if "-call-" in key or key.endswith("-history"):
            continue
        suffix = key[len(structure.name) :]
        if consumer is not None:
            suffix = suffix.replace(consumer, "<consumer>")
        kind = await client.type(key)
        if kind == "list":
            found[suffix] = await client.lrange(key, 0, -1)
        elif kind == "set":
            found[suffix] = sorted(await client.smembers(key))
        elif kind == "zset":
            members = [m for m, _ in await client.zrange(key, 0, -1, withscores=True)]
            if suffix in PREFIXED and structure.kind == "queue":  # prefixes made of call ids
                members = [member[MEMBER_PREFIX:] for member in members]
            found[suffix] = members
        elif kind == "hash":
            fields = await client.hgetall(key)
            found[suffix] = sorted(
                field.replace(structure.name, "").replace(consumer or "\0", "<consumer>")
                for field in fields
            )
        else:
            found[suffix] = await client.get(key)
    return found


async def take_all(queue: Queue) -> None:
    await queue.add_items(ITEMS + ITEMS[:3])  # duplicates: a second run would remove them too
    await queue.get_items(len(ITEMS) + 3)


async def take_prioritised(queue: Queue) -> None:
    await queue.add_items(ITEMS[3:], priority=-2)
    await queue.add_items(ITEMS + ITEMS[:3], priority=5)
    await queue.get_items(len(ITEMS) + 3)


async def with_dead_letters(queue: Queue) -> None:
    await queue.add_items(ITEMS)
    await queue.get_items(len(ITEMS))
    await queue.reject_items(ITEMS)


async def nothing(_: object) -> None:
    pass


QUEUE_CALLS: dict[str, tuple[Any, Any]] = {
    "add_items": (nothing, lambda q: q.add_items(["only-once", *ITEMS])),
    "get_items": (lambda q: q.add_items(ITEMS), lambda q: q.get_items(5)),
    "ack_items": (take_all, lambda q: q.ack_items(ITEMS[:3])),
    "reject_items": (take_all, lambda q: q.reject_items(ITEMS[:3])),
    "reject_items_to_dead": (take_all, lambda q: q.reject_items(ITEMS[:3], reason="why")),
    "release": (take_all, lambda q: q.release()),
    "delete_items": (lambda q: q.add_items(ITEMS + ITEMS), lambda q: q.delete_items(ITEMS[:2])),
    "requeue_dead_items": (with_dead_letters, lambda q: q.requeue_dead_items()),
    "add_items_prioritised": (nothing, lambda q: q.add_items(["only-once", *ITEMS], priority=3)),
    "get_items_prioritised": (lambda q: q.add_items(ITEMS, priority=2), lambda q: q.get_items(5)),
    "get_items_below": (take_prioritised, lambda q: q.get_items(5)),
    "ack_items_prioritised": (take_prioritised, lambda q: q.ack_items(ITEMS[:3])),
    "reject_items_prioritised": (take_prioritised, lambda q: q.reject_items(ITEMS[:3])),
    "release_prioritised": (take_prioritised, lambda q: q.release()),
    "purge_dead_items": (with_dead_letters, lambda q: q.purge_dead_items()),
}


@pytest.mark.parametrize("limits", list(LIMITS))
@pytest.mark.parametrize("kind", [Queue, UniqueQueue], ids=["queue", "unique"])
@pytest.mark.parametrize("call", list(QUEUE_CALLS))
async def test_queue_call_retried_has_the_effect_of_one(clients, name, kind, call, limits):
    """Each queue call that changes state, sent several times, changes it once (limits too)."""
    own_server, steady, retrying = clients
    prepare, make = QUEUE_CALLS[call]
    options = {"max_deliveries": 1} if "dead" in call else {}
    options |= LIMITS[limits]
    once = kind(f"{name}-once", steady, **options)
    again = kind(f"{name}-again", retrying, **options)
    for queue in (once, again):
        await prepare(queue)
    expected = await make(once)
    before = await runs(steady)
    reply = await stalled(own_server, retrying, make(again))
    assert await sent_again(steady, before), "the call was not sent again"
    assert reply == expected
    assert await state(steady, again) == await state(steady, once)
    assert await dead_records(again) == await dead_records(once)
    if call == "reject_items_to_dead":  # recorded once, as the first run wrote it
        assert await dead_records(again) == [(item, "why", 1, True) for item in ITEMS[:3]]


async def dead_records(queue: Queue) -> list[tuple[Any, ...]]:
    """The dead letters with their records, but the time they died."""
    dead = await queue.get_dead_items(len(ITEMS) * 2, details=True)
    return [(d.item, d.reason, d.deliveries, d.consumer == queue.client_id) for d in dead]


@pytest.mark.parametrize("limits", list(LIMITS))
@pytest.mark.parametrize("kind", [Queue, UniqueQueue], ids=["queue", "unique"])
@pytest.mark.parametrize("drop", [False, True], ids=["requeue", "drop"])
async def test_recovery_sent_twice_has_the_effect_of_one(steady, name, kind, drop, limits):
    """Recovery reads the leases first, then sends its scripts: sent twice, they act once."""
    options = LIMITS[limits]
    once, again = kind(f"{name}-once", steady, **options), kind(f"{name}-again", steady, **options)
    for queue in (once, again):
        await take_all(queue)
    expected = await (once.drop_all_items() if drop else once.re_enqueue_all_items())
    calls = [again._recovery(again.processing_queue_name, -1, drop=drop)]
    replies = [await again._write(calls) for _ in range(2)]
    assert replies == [[expected], [expected]]
    assert await state(steady, again) == await state(steady, once)


async def test_retried_blocking_get_takes_its_items_once(own_server, steady, retrying, name):
    """A waiting get whose commands are all sent again takes each item once."""
    queue = Queue(name, retrying)
    waiting = asyncio.create_task(queue.get_items(3, wait=5))
    await asyncio.sleep(0.2)  # blocked in Redis now
    own_server.pause()
    asyncio.get_running_loop().call_later(STALL, own_server.resume)
    await asyncio.sleep(TIMEOUT * 4)  # the blocked command times out and is sent again
    own_server.resume()
    await Queue(name, steady).add_items(ITEMS)
    got = await waiting
    assert got == ITEMS[: len(got)]
    assert await steady.lrange(queue.processing_queue_name, 0, -1) == got[::-1]
    assert await steady.lrange(name, 0, -1) == ITEMS[len(got) :][::-1]


POOL_CALLS: dict[str, tuple[Any, Any]] = {
    "add_items": (nothing, lambda p: p.add_items(ITEMS)),
    "get_items": (lambda p: p.add_items(ITEMS), lambda p: p.get_items(5)),
    "ack_items": (lambda p: p.add_items(ITEMS), lambda p: p.ack_items(ITEMS[:3])),
    "remove_items": (lambda p: p.add_items(ITEMS), lambda p: p.remove_items(ITEMS[:3])),
}


@pytest.mark.parametrize("call", list(POOL_CALLS))
async def test_pool_call_retried_has_the_effect_of_one(clients, name, call):
    """Each pool call that changes state, sent several times, changes it once."""
    own_server, steady, retrying = clients
    prepare, make = POOL_CALLS[call]
    once, again = Pool(f"{name}-once", steady), Pool(f"{name}-again", retrying)
    for pool in (once, again):
        await prepare(pool)
        if call in {"ack_items", "remove_items"}:
            await pool.get_items(len(ITEMS))
    expected = await make(once)
    before = await runs(steady)
    reply = await stalled(own_server, retrying, make(again))
    assert await sent_again(steady, before), "the call was not sent again"
    assert reply == expected
    assert await state(steady, again) == await state(steady, once)
    scores = [await steady.zrange(p.name, 0, -1, withscores=True) for p in (once, again)]
    in_flight = [[str(score).endswith(".1") for _, score in s] for s in scores]
    assert in_flight[0] == in_flight[1]


async def test_replies_kept_for_retries_are_deleted_by_later_calls(steady, name):
    """A consumer that keeps working keeps only a few call keys, not one per call."""
    queue = Queue(name, steady)
    for _ in range(50):
        await queue.add_items(ITEMS)
        await queue.ack_items(await queue.get_items(len(ITEMS)))
    kept = [key async for key in steady.scan_iter(match=f"{name}-call-*", count=1000)]
    assert 1 <= len(kept) <= FORGET_PER_CALL
    assert sorted(kept) == sorted(queue._replied)  # those not deleted yet, and no other
    ttl = await steady.pttl(kept[0])
    assert 0 < ttl <= 60_000


@pytest.mark.parametrize(
    "call_of",
    [(kind, call) for kind in (Queue, UniqueQueue) for call in QUEUE_CALLS],
    ids=[f"{call}-{kind}" for kind in ("queue", "unique") for call in QUEUE_CALLS],
)
async def test_call_made_again_by_its_caller_has_the_effect_of_one(
    own_server, impatient, steady, name, call_of
):
    """A call that failed with a timeout, made again by its caller, changes state once."""
    kind, call = call_of
    prepare, make = QUEUE_CALLS[call]
    options = {"max_deliveries": 1} if "dead" in call else {}
    once = kind(f"{name}-once", steady, **options)
    again = kind(f"{name}-again", impatient, **options)
    for queue in (once, again):
        await prepare(queue)
    expected = await make(once)
    before = await runs(steady)
    with pytest.raises(redis.exceptions.TimeoutError):
        await stalled(own_server, impatient, make(again))
    assert await sent_again(steady, before - 1), "the call did not run"  # ran once, reply lost
    assert await make(again) == expected  # the caller's retry: the first run's reply
    assert await state(steady, again) == await state(steady, once)


async def test_release_forgets_failed_gets(own_server, impatient, steady, name):
    """After release, a get made again takes anew: the failed get's items went back."""
    queue = Queue(name, impatient)
    await queue.add_items(ITEMS)
    with pytest.raises(redis.exceptions.TimeoutError):
        await stalled(own_server, impatient, queue.get_items(3))
    assert await queue.release() == 3
    assert await queue.get_items(3) == ITEMS[:3]
    assert await steady.lrange(name, 0, -1) == ITEMS[3:][::-1]
