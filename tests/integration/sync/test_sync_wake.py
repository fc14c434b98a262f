"""The sync twin's waiting get, woken by what other clients delay or prioritise.

A waiting get blocks in Redis on the list ``NAME``, which a delayed or prioritised add does
not touch; after 50 ms it listens, in a thread of its own, on the channel those adds publish
on, and ends its blocking command (CLIENT UNBLOCK) to take again. The asyncio twin's tests
are in tests/integration/test_delayed.py and test_priorities.py.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

import aiopyrq.sync
from aiopyrq.sync import Queue, UniqueQueue
from tests.helpers import BOUND

pytestmark = [pytest.mark.redis, pytest.mark.all_deployments]

KINDS = {"queue": Queue, "unique": UniqueQueue}
WAIT = 5.0  # seconds: a get's wait, ended long before when it is woken
WOKEN_WITHIN = 2.0  # seconds: how soon a woken get returns, at most (its command: 4.5 s)


def in_thread(call):
    """Start call in a thread; a function that joins it and returns what it returned."""
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(call()))
    thread.start()

    def joined():
        thread.join(BOUND)
        assert not thread.is_alive(), "the call did not return"
        return outcome[0]

    return joined


def connections(client) -> int:
    """How many connections the server (every master of a cluster) has now."""
    if isinstance(client, redis.Redis):
        return len(client.client_list())
    by_node = client.client_list(target_nodes=client.PRIMARIES)  # a list per master
    return sum(len(clients) for clients in by_node.values())


@pytest.mark.parametrize("kind", KINDS)
def test_waiting_get_wakes_for_a_prioritised_item(client, name, kind):
    """A sync get that waits returns an item another client adds with a priority at once."""
    queue, adder = KINDS[kind](name, client), KINDS[kind](name, client)
    get = in_thread(lambda: queue.get_items(5, wait=WAIT))
    time.sleep(0.3)  # the get blocks, and listens
    start = time.monotonic()
    adder.add_item("urgent", priority=9)
    assert get() == ["urgent"]
    assert time.monotonic() - start < WOKEN_WITHIN


@pytest.mark.parametrize("kind", KINDS)
def test_waiting_get_wakes_for_an_item_another_client_delays(client, name, kind):
    """A sync get that waits with nothing delayed returns an item another client delays,
    once due: 0.3 s after the add, not at the end of its wait."""
    queue, adder = KINDS[kind](name, client), KINDS[kind](name, client)
    get = in_thread(lambda: queue.get_items(5, wait=WAIT))
    time.sleep(0.3)
    start = time.monotonic()
    adder.add_item("soon", delay=0.3)
    assert get() == ["soon"]
    assert 0.25 <= time.monotonic() - start < 0.3 + WOKEN_WITHIN


def test_an_item_prioritised_before_the_get_listens_is_found(client, name):
    """An item prioritised between the get's take and its listening is found by the check
    run once the get has subscribed."""
    queue, adder = Queue(name, client), Queue(name, client)
    get = in_thread(lambda: queue.get_items(5, wait=WAIT))
    time.sleep(0.01)  # blocked, not listening yet (LISTEN_AFTER, 50 ms)
    start = time.monotonic()
    adder.add_item("early", priority=3)
    assert get() == ["early"]
    assert time.monotonic() - start < WOKEN_WITHIN


def test_waiting_gets_leave_no_thread_nor_connection(client, name):
    """Gets that are woken, that time out or that take a plain item leave no listening
    thread and no connection behind."""
    queue, adder = Queue(name, client), Queue(name, client)
    queue.get_items(1, wait=0.2)  # the pool's connections, made once
    threads, before = threading.active_count(), connections(client)
    for round_ in range(3):
        assert queue.get_items(1, wait=0.2) == []  # listened, timed out
        get = in_thread(lambda: queue.get_items(1, wait=WAIT))
        time.sleep(0.2)
        adder.add_item(f"prioritised-{round_}", priority=1)
        assert get() == [f"prioritised-{round_}"]
        get = in_thread(lambda: queue.get_items(1, wait=WAIT))
        time.sleep(0.2)
        adder.add_item(f"plain-{round_}")
        assert get() == [f"plain-{round_}"]
    assert threading.active_count() == threads
    assert before > 0
    assert connections(client) <= before + 1  # at most one more in the pool: the listener's
    queue.ack_items([f"prioritised-{r}" for r in range(3)] + [f"plain-{r}" for r in range(3)])


def test_a_stale_unblock_does_not_end_a_later_wait(client, name):
    """The woken get's next wait on the same connection runs to its end (no unblock left)."""
    queue, adder = Queue(name, client), Queue(name, client)
    get = in_thread(lambda: queue.get_items(1, wait=WAIT))
    time.sleep(0.2)
    adder.add_item("urgent", priority=9)
    assert get() == ["urgent"]
    start = time.monotonic()
    assert queue.get_items(1, wait=1.0) == []
    assert time.monotonic() - start >= 1.0


def test_an_unblock_racing_the_reply_does_not_end_a_later_wait(client, name):
    """An item that wakes the get as the listener ends its command: whichever comes first,
    nothing is lost, and the next wait on the same connection runs to its end."""
    queue, adder = Queue(name, client), Queue(name, client)
    for round_ in range(10):
        get = in_thread(lambda: queue.get_items(5, wait=WAIT))
        time.sleep(0.1)  # listening
        adder.add_item(f"prioritised-{round_}", priority=1)  # heard: the listener unblocks
        adder.add_item(f"plain-{round_}")  # and this wakes the command itself
        taken = get() + queue.get_items(5)
        assert sorted(taken) == [f"plain-{round_}", f"prioritised-{round_}"]
        start = time.monotonic()
        assert queue.get_items(1, wait=0.3) == []
        assert time.monotonic() - start >= 0.3
        queue.ack_items(taken)
    assert queue.get_count() == 0


@pytest.mark.standalone_only
@pytest.mark.parametrize("forbidden", ["channels", "client"])
def test_a_user_without_channels_or_client_still_waits(redis_server, client, name, forbidden):
    """A user who may not subscribe, or may not run CLIENT, gets a prioritised item when its
    wait's command ends (1 s, within its socket timeout): nothing lost, no thread left."""
    user = f"no-{forbidden}-{name}"
    client.acl_setuser(
        user,
        enabled=True,
        nopass=True,
        keys=["*"],
        channels=None if forbidden == "channels" else ["*"],  # None: Redis 7 gives none
        commands=["+@all", "-client"] if forbidden == "client" else ["+@all"],
        reset=True,
    )
    limited = redis.Redis.from_url(
        redis_server.url,
        username=user,
        password="any",  # noqa: S106
        decode_responses=True,
        socket_timeout=1.5,
    )
    threads = threading.active_count()
    try:
        queue, adder = Queue(name, limited), Queue(name, limited)
        get = in_thread(lambda: queue.get_items(5, wait=WAIT))
        time.sleep(0.3)
        adder.add_item("prioritised", priority=2)
        assert get() == ["prioritised"]
        assert client.exists(queue.keys.priority) == 0
        assert threading.active_count() == threads
    finally:
        limited.close()
        client.acl_deluser(user)


@pytest.mark.standalone_only
def test_a_reject_with_a_delay_ends_the_same_objects_wait(redis_server, client, name):
    """A waiting get learns at once of an item its own object rejects with a delay, even for
    a user who may not listen (no channel): the reject ends the get's command itself."""
    user = f"no-channels-{name}"
    client.acl_setuser(user, enabled=True, nopass=True, keys=["*"], commands=["+@all"], reset=True)
    limited = redis.Redis.from_url(
        redis_server.url, username=user, password="any", decode_responses=True  # noqa: S106
    )
    try:
        queue = Queue(name, limited)
        queue.add_item("retried")
        assert queue.get_items(1) == ["retried"]
        get = in_thread(lambda: queue.get_items(1, wait=WAIT))
        time.sleep(0.3)
        start = time.monotonic()
        assert queue.reject_item("retried", delay=0.3) == 0
        assert get() == ["retried"]
        assert 0.25 <= time.monotonic() - start < 0.3 + WOKEN_WITHIN
    finally:
        limited.close()
        client.acl_deluser(user)


def test_sync_consumer_handles_a_prioritised_item_at_once(client, name):
    """A sync Consumer whose fetch waits 5 s handles an item prioritised meanwhile at once."""
    queue = Queue(name, client)
    handled = threading.Event()
    seen = []

    def handle(item):
        seen.append(item)
        handled.set()

    consumer = aiopyrq.sync.Consumer(queue, handle, wait=WAIT)
    runner = threading.Thread(target=consumer.run, kwargs={"handle_signals": False})
    runner.start()
    try:
        time.sleep(0.5)  # the consumer's fetch waits
        start = time.monotonic()
        Queue(name, client).add_item("urgent", priority=5)
        assert handled.wait(BOUND)
        assert time.monotonic() - start < WOKEN_WITHIN
    finally:
        consumer.stop()
        runner.join(BOUND)
    assert seen == ["urgent"]
    assert queue.get_count() == 0
