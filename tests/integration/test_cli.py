"""The ``aiopyrq`` command run as a subprocess against real servers.

Every figure printed is checked against what the keys hold; every destructive command is run
with ``--dry-run`` first and must change nothing. Time passing is simulated by writing old
lease stamps (HSET), never by sleeping. Sharded queues are real ShardedQueues; the Redis
Cluster is the session's ``cluster``, reached through one master's URL.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from redis.asyncio.cluster import RedisCluster

from aiopyrq import Pool, Queue, ShardedQueue, UniqueQueue
from tests.harness import RedisServer, ServerError
from tests.helpers import age_lease, data_keys, history_slot, items_named

pytestmark = pytest.mark.redis

OLD = 300  # seconds: the age given to a stale consumer's lease
SECRET = "Top-S3cret-pw"  # noqa: S105 - the test password, never to be printed


def aiopyrq(*args: str, url: str | None = None, env: dict[str, str] | None = None):
    """Run `python -m aiopyrq [--url URL] args...` to completion (at most 60 s)."""
    command = [sys.executable, "-m", "aiopyrq", *(["--url", url] if url else []), *args]
    environment = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return subprocess.run(
        command,
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(result) -> str:
    """The stdout of a run that succeeded, with nothing on stderr."""
    assert (result.returncode, result.stderr) == (0, ""), result.stdout + result.stderr
    return result.stdout


def failed(result, code: int) -> str:
    """The one-line stderr of a run that failed with exit code `code`, with no stdout."""
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("aiopyrq: ")
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def dump(client, name: str) -> dict[str, object]:
    """Every key of the structure `name` and its content, to compare before and after."""
    options = {}
    if isinstance(client, RedisCluster):  # the keys {name}, {name}-..., on their master
        name = f"{{{name}}}"
        options["target_nodes"] = client.get_node_from_key(name)
    keys = sorted({name, *await client.keys(f"{name}-*", **options)})
    content: dict[str, object] = {}
    for key in keys:
        kind = await client.type(key)
        if kind == "list":
            content[key] = await client.lrange(key, 0, -1)
        elif kind == "hash":
            content[key] = await client.hgetall(key)
        elif kind == "set":
            content[key] = await client.smembers(key)
        elif kind == "zset":
            content[key] = await client.zrange(key, 0, -1, withscores=True)
    return content


async def busy_queue(client, name: str, cls=Queue):
    """20 items: a stale consumer holds 5, a live one 3, 2 are dead letters, 10 wait."""
    queue = cls(name, client, max_deliveries=1)
    await queue.add_items(items_named(20))
    stale, live = cls(name, client), cls(name, client, max_deliveries=1)
    assert len(await stale.get_items(5)) == 5
    assert len(await live.get_items(3)) == 3
    await live.reject_items(await live.get_items(2))  # max_deliveries=1: dead at once
    await age_lease(stale, OLD)
    return stale, live


async def test_stats_json_matches_the_queue(redis_server, client, name):
    """stats --json gives waiting, each consumer's items and lease age, and dead letters."""
    stale, live = await busy_queue(client, name)
    now, _ = await client.time()

    [stats] = json.loads(ok(aiopyrq("stats", "--json", name, url=redis_server.url)))

    assert stats["name"] == name
    assert stats["kind"] == "queue"
    assert stats["waiting"] == await client.llen(name) == 10
    assert stats["oldest_waiting_age"] is None  # a list keeps no times: not invented
    assert stats["dead"] == await client.llen(f"{name}-dead") == 2
    assert stats["in_flight"] == 8
    consumers = {c["id"]: c for c in stats["consumers"]}
    assert set(consumers) == {stale.client_id, live.client_id}
    assert consumers[stale.client_id]["items"] == 5
    assert consumers[stale.client_id]["processing_list"] == stale.processing_queue_name
    assert consumers[live.client_id]["items"] == 3
    assert consumers[stale.client_id]["lease"] == now - OLD
    assert OLD <= consumers[stale.client_id]["lease_age"] <= OLD + 30
    assert 0 <= consumers[live.client_id]["lease_age"] <= 30
    assert stats["oldest_lease_age"] == consumers[stale.client_id]["lease_age"]
    assert abs(stats["server_time"] - now) <= 30


async def test_stats_text(redis_server, client, name):
    """stats prints the counts, says the oldest waiting age is unknown, and each consumer."""
    stale, live = await busy_queue(client, name)

    output = ok(aiopyrq("stats", name, url=redis_server.url))

    assert output.splitlines()[0] == f"{name} (Queue)"
    assert re.search(r"^  waiting +10  age of the oldest: unknown", output, re.MULTILINE)
    assert re.search(r"^  in flight +8  held by 2 consumers$", output, re.MULTILINE)
    assert re.search(r"^  dead letters +2$", output, re.MULTILINE)
    assert re.search(rf"^  {re.escape(stale.client_id)} +5  5 min [0-9]+ s$", output, re.MULTILINE)
    assert re.search(rf"^  {re.escape(live.client_id)} +3  [0-9]+ s$", output, re.MULTILINE)


async def test_stats_show_delayed_items(redis_server, client, name):
    """stats counts delayed items apart from the waiting ones; a queue of delayed items only
    is a queue."""
    queue = Queue(name, client)
    await queue.add_items(["a", "b"], delay=600)

    [stats] = json.loads(ok(aiopyrq("stats", "--json", name, url=redis_server.url)))
    output = ok(aiopyrq("stats", name, url=redis_server.url))

    assert (stats["kind"], stats["waiting"], stats["delayed"]) == ("queue", 0, 2)
    assert re.search(r"^  delayed +2$", output, re.MULTILINE)


async def test_stats_of_several_kinds(redis_server, client, name):
    """One stats call reads a UniqueQueue and a Pool, each found from its keys."""
    unique = UniqueQueue(f"{name}-u", client)
    await unique.add_items(["a", "b", "c"])
    await unique.get_items(1)
    pool = Pool(f"{name}-p", client, ack_ttl=60)
    await pool.add_items(items_named(10))
    await pool.ack_items(await pool.get_items(3))
    await pool.get_items(2)

    output = ok(aiopyrq("stats", "--json", f"{name}-u", f"{name}-p", url=redis_server.url))

    unique_stats, pool_stats = json.loads(output)
    rates = pool_stats.pop("history_per_second")  # this minute's work is not in them yet
    assert set(rates) == {"last_minute", "last_5_minutes"}
    assert (unique_stats["kind"], unique_stats["waiting"], unique_stats["in_flight"]) == (
        "unique",
        2,
        1,
    )
    assert pool_stats == {
        "name": f"{name}-p",
        "kind": "pool",
        "server_time": pool_stats["server_time"],
        "total": await pool.get_count(),
        "due": await pool.get_count_to_process(),
        "in_flight": 2,
        "scheduled": 3,
    }
    assert pool_stats["due"] == 5
    text = ok(aiopyrq("stats", f"{name}-p", url=redis_server.url)).split("  last minute:")[0]
    assert text.split() == f"{name}-p (Pool) total 10 due 5 in flight 2 scheduled 3".split()


async def test_a_name_without_keys(redis_server, client, name):
    """An unknown name exits 6; with --kind it reads as empty; nothing is written either way."""
    stderr = failed(aiopyrq("stats", name, url=redis_server.url), 6)
    assert f"no queue or pool named {name!r}" in stderr

    [stats] = json.loads(
        ok(aiopyrq("stats", "--kind", "queue", "--json", name, url=redis_server.url))
    )
    assert (stats["waiting"], stats["in_flight"], stats["dead"], stats["consumers"]) == (
        0,
        0,
        0,
        [],
    )
    failed(aiopyrq("peek", name, url=redis_server.url), 6)
    failed(aiopyrq("dead", "purge", name, url=redis_server.url), 6)
    assert data_keys(await client.keys(f"{name}*")) == []


async def test_wrong_types(redis_server, client, name):
    """A key of a type no structure uses there, or a Pool given to a queue command, exits 5."""
    await client.set(name, "a string")
    assert "is a Redis string" in failed(aiopyrq("stats", name, url=redis_server.url), 5)

    await client.delete(name)
    await client.lpush(name, "x")
    await client.set(f"{name}-timeouts", "not a hash")
    assert f"{name}-timeouts" in failed(aiopyrq("stats", name, url=redis_server.url), 5)

    pool = Pool(f"{name}-p", client)
    await pool.add_items(["x"])
    for command in (["dead", "list"], ["dead", "requeue"], ["requeue-stale"], ["drop-stale"]):
        older = ["--older-than", "1"] if "stale" in command[0] else []
        stderr = failed(aiopyrq(*command, f"{name}-p", *older, url=redis_server.url), 5)
        assert f"is a Pool: {' '.join(command)} works on a Queue or UniqueQueue" in stderr
    stderr = failed(aiopyrq("stats", "--kind", "pool", name, url=redis_server.url), 5)
    assert "not the zset of a Pool" in stderr
    assert await client.zrange(f"{name}-p", 0, -1) == ["x"]


async def test_peek_shows_the_next_items_without_taking_them(redis_server, client, name):
    """peek -n lists the next items in the order get_items hands them out, and takes none."""
    queue = Queue(name, client)
    await queue.add_items(items_named(10))

    output = ok(aiopyrq("peek", name, "-n", "3", url=redis_server.url))

    assert output.splitlines() == ["item-0", "item-1", "item-2"]
    assert await queue.get_count() == 10
    assert await queue.get_items(3) == ["item-0", "item-1", "item-2"]


@pytest.mark.parametrize("cls", [Queue, UniqueQueue])
async def test_peek_and_stats_show_prioritised_items(redis_server, client, name, cls):
    """peek lists the prioritised items where a get takes them; stats counts them waiting,
    on a queue that has no other key than theirs too."""
    queue = cls(name, client)
    await queue.add_items(["high-1", "high-2"], priority=3)
    [stats] = json.loads(ok(aiopyrq("stats", "--json", name, url=redis_server.url)))
    assert stats["waiting"] == 2
    [row] = json.loads(ok(aiopyrq("ls", "--json", f"{name}*", url=redis_server.url)))
    assert (row["name"], row["kind"], row["waiting"]) == (name, queue.kind, 2)
    await queue.add_items(["plain"])
    await queue.add_items(["low"], priority=-3)

    output = ok(aiopyrq("peek", name, "-n", "3", url=redis_server.url))

    assert output.splitlines() == ["high-1", "high-2", "plain"]
    [stats] = json.loads(ok(aiopyrq("stats", "--json", name, url=redis_server.url)))
    assert stats["waiting"] == 4
    assert await queue.get_items(4) == ["high-1", "high-2", "plain", "low"]


async def test_peek_a_pool(redis_server, client, name):
    """peek on a Pool lists the earliest due items and whether each is due or in flight."""
    pool = Pool(name, client, ack_ttl=30)
    await pool.add_items(["a", "b", "c"])
    assert await pool.get_items(1) == ["a"]
    await pool.ack_items(await pool.get_items(1))

    lines = ok(aiopyrq("peek", name, url=redis_server.url)).splitlines()

    assert lines[0] == "c\tdue"
    assert re.fullmatch(r"a\tin flight, due again in [0-9]+ s", lines[1])
    assert re.fullmatch(r"b\tdue in 1 d [0-9]+ h", lines[2])
    assert len(lines) == 3


@pytest.mark.parametrize("cls", [Queue, UniqueQueue])
async def test_requeue_stale(redis_server, client, name, cls):
    """requeue-stale --dry-run counts the stale consumer's items; without it, puts them back."""
    stale, live = await busy_queue(client, name, cls)
    before = await dump(client, name)

    dry = ok(
        aiopyrq("requeue-stale", name, "--older-than", "60", "--dry-run", url=redis_server.url)
    )
    assert dry.splitlines()[0] == (
        "would requeue 5 items of consumers whose lease is older than 60 s, "
        "from 1 consumer (dry run)"
    )
    assert f"  {stale.client_id}  5 items, lease 5 min" in dry
    assert live.client_id not in dry
    assert await dump(client, name) == before

    done = ok(aiopyrq("requeue-stale", name, "--older-than", "60", url=redis_server.url))
    assert done.splitlines()[0] == "requeued 5 items of consumers whose lease is older than 60 s"
    assert await client.exists(stale.processing_queue_name) == 0
    assert await client.hkeys(stale.timeouts_hash_name) == [live.processing_queue_name]
    assert await client.lrange(name, -5, -1) == items_named(5)[::-1]  # first in line again
    waiting = await client.lrange(name, 0, -1)
    held = await client.lrange(live.processing_queue_name, 0, -1)
    dead = await client.lrange(f"{name}-dead", 0, -1)
    assert sorted(waiting + held + dead) == sorted(items_named(20))  # nothing lost
    if cls is UniqueQueue:
        assert await client.smembers(f"{name}-unique") == set(waiting)


async def test_drop_stale(redis_server, client, name):
    """drop-stale --dry-run changes nothing; without it, deletes the stale consumer's items."""
    stale, live = await busy_queue(client, name)
    before = await dump(client, name)

    dry = ok(aiopyrq("drop-stale", name, "--older-than", "60", "--dry-run", url=redis_server.url))
    assert dry.splitlines()[0].startswith("would drop 5 items ")
    assert await dump(client, name) == before

    done = ok(aiopyrq("drop-stale", name, "--older-than", str(OLD - 60), url=redis_server.url))
    assert done.splitlines()[0] == (
        f"dropped 5 items of consumers whose lease is older than {OLD - 60} s"
    )
    assert await client.exists(stale.processing_queue_name) == 0
    assert await client.llen(live.processing_queue_name) == 3
    assert await client.llen(name) == 10


async def test_dead_letters(redis_server, client, name):
    """dead list shows the dead letters oldest first; requeue and purge, dry runs first."""
    queue = Queue(name, client, max_deliveries=1)
    await queue.add_items(items_named(4))
    await queue.reject_items(await queue.get_items(2), reason="ValueError: bad\ninput")
    await queue.reject_items(await queue.get_items(1))
    await client.rpush(f"{name}-dead", "old")  # written before records were kept
    url = redis_server.url

    died = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    who = re.escape(queue.client_id)
    lines = ok(aiopyrq("dead", "list", name, url=url)).splitlines()
    assert [line.rsplit("  ", 1)[1] for line in lines] == [*items_named(3), "old"]
    assert re.fullmatch(rf"{died}  1 delivery  {who}  ValueError: bad input  item-0", lines[0])
    assert re.fullmatch(rf"{died}  1 delivery  {who}  -  item-2", lines[2])
    assert lines[3] == "-  -  -  -  old"
    assert len(ok(aiopyrq("dead", "list", name, "-n", "2", url=url)).splitlines()) == 2
    await client.lrem(f"{name}-dead", 1, "old")
    before = await dump(client, name)
    assert ok(aiopyrq("dead", "requeue", name, "--dry-run", url=url)) == (
        "would requeue 3 dead letters (dry run)\n"
    )
    assert await dump(client, name) == before
    assert ok(aiopyrq("dead", "requeue", name, url=url)) == "requeued 3 dead letters\n"
    assert await queue.get_dead_count() == 0
    assert sorted(await client.lrange(name, 0, -1)) == items_named(4)

    await queue.reject_items(await queue.get_items(4))
    before = await dump(client, name)
    assert ok(aiopyrq("dead", "purge", name, "--dry-run", url=url)) == (
        "would purge 4 dead letters (dry run)\n"
    )
    assert await dump(client, name) == before
    assert ok(aiopyrq("dead", "purge", name, url=url)) == "purged 4 dead letters\n"
    assert data_keys(await client.keys(f"{name}*")) == []


async def test_watch_refreshes_count_times(redis_server, client, name):
    """watch --count N prints N views, each with the figures and their change since the last."""
    queue = Queue(name, client)
    await queue.add_items(items_named(7))
    await queue.get_items(2)

    output = ok(aiopyrq("watch", name, "--interval", "0.05", "--count", "3", url=redis_server.url))

    views = output.split("aiopyrq watch  ")[1:]
    assert len(views) == 3
    assert "\x1b" not in output  # not a terminal: no screen clearing
    assert views[0].startswith(f"{redis_server.url}  ")
    assert re.search(r"^  waiting +5  ", views[0], re.MULTILINE)
    for view in views[1:]:
        assert re.search(r"^  waiting +5 \(\+0\)", view, re.MULTILINE)
        assert re.search(r"^  in flight +2 \(\+0\)  held by 1 consumer$", view, re.MULTILINE)


async def test_url_from_the_environment_or_after_the_command(redis_server, client, name):
    """$REDIS_URL is used without --url; --url may also follow the command."""
    await Queue(name, client).add_items(["x"])
    by_env = aiopyrq("peek", name, env={"REDIS_URL": redis_server.url})
    assert ok(by_env) == "x\n"
    after = aiopyrq(
        "peek", name, "--url", redis_server.url, env={"REDIS_URL": "redis://no.invalid:1"}
    )
    assert ok(after) == "x\n"


def test_unreachable_server():
    """A server that does not answer exits 3 with one line, the password masked."""
    url = f"redis://ops:{SECRET}@127.0.0.1:{free_port()}/0"
    stderr = failed(aiopyrq("stats", "q", url=url), 3)
    assert stderr.startswith("aiopyrq: cannot reach redis://ops:***@127.0.0.1:")
    assert SECRET not in stderr


def test_bad_command_lines():
    """A bad URL, a missing or negative --older-than, an unknown option: exit 2."""
    stderr = failed(aiopyrq("stats", "q", url=f"http://ops:{SECRET}@127.0.0.1:1"), 2)
    assert "bad URL http://ops:***@127.0.0.1:1" in stderr
    assert SECRET not in stderr
    for args in (
        ["requeue-stale", "q"],
        ["drop-stale", "q", "--older-than", "-1"],
        ["stats", "q", "--no-such-option"],
        ["watch", "q", "--interval", "0"],
    ):
        result = aiopyrq(*args, url="redis://127.0.0.1:1")
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("usage: aiopyrq")


def test_help_documents_commands_and_exit_codes():
    """--help lists every command and every exit code; the console script is installed."""
    output = ok(aiopyrq("--help"))
    for command in ("stats", "peek", "recover-stale", "drop-stale", "dead", "watch"):
        assert re.search(rf"^    {command}\b", output, re.MULTILINE), command
    for code in range(7):
        assert re.search(rf"^  {code}  \w", output, re.MULTILINE), code
    script = Path(sys.executable).with_name("aiopyrq")
    result = subprocess.run(
        [script, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert ok(result) == output


@pytest.fixture(scope="module")
def guarded_server():
    """A server whose default user needs a password, with an ACL user ops and a user weak."""
    with RedisServer() as server:
        with redis.Redis.from_url(server.url) as admin:
            admin.execute_command("ACL", "SETUSER", "ops", "on", f">{SECRET}", "~*", "+@all")
            admin.execute_command("ACL", "SETUSER", "weak", "on", f">{SECRET}", "-@all", "+ping")
            admin.lpush("guarded", "x")
            admin.config_set("requirepass", SECRET)
        yield server


@pytest.mark.parametrize(
    ("userinfo", "code"),
    [
        ("", 4),  # no password: NOAUTH
        (":not-the-password@", 4),  # WRONGPASS
        ("ops:not-the-password@", 4),
        ("weak:" + SECRET + "@", 4),  # NOPERM
        ("ops:" + SECRET + "@", 0),
        (":" + SECRET + "@", 0),
    ],
)
def test_credentials(guarded_server, userinfo, code):
    """Bad credentials exit 4 with one line; good ones (ACL user or password) work; no leak."""
    url = f"redis://{userinfo}127.0.0.1:{guarded_server.port}"
    result = aiopyrq("peek", "guarded", url=url)
    assert SECRET not in result.stdout + result.stderr
    if not userinfo:
        assert failed(result, code) == (
            f"aiopyrq: {url} needs a password, and the URL gives none: "
            "redis://:PASSWORD@HOST:PORT, or redis://USER:PASSWORD@HOST:PORT\n"
        )
    elif code:
        stderr = failed(result, code)
        assert "authentication failed" in stderr or "no permission" in stderr
    else:
        assert ok(result) == "x\n"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """A server that also listens with TLS, and its certificate: skipped if it cannot."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl to make a certificate")
    tmp = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", tmp / "key.pem", "-out", tmp / "cert.pem", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    port = free_port()
    server = RedisServer(
        extra_args=[
            "--tls-port", str(port),
            "--tls-cert-file", str(tmp / "cert.pem"),
            "--tls-key-file", str(tmp / "key.pem"),
            "--tls-ca-cert-file", str(tmp / "cert.pem"),
            "--tls-auth-clients", "no",
        ]
    )  # fmt: skip
    try:
        server.start()
    except ServerError as exc:
        server.cleanup()
        if "TLS" not in str(exc):
            raise
        pytest.skip(f"{server.binary} is built without TLS")
    with server:
        yield port, tmp / "cert.pem"


def test_tls(tls_server, name):
    """rediss:// works with the server's CA; an unverified certificate exits 3."""
    port, cert = tls_server
    url = f"rediss://127.0.0.1:{port}"
    output = ok(
        aiopyrq("stats", "--kind", "queue", "--json", name, url=f"{url}?ssl_ca_certs={cert}")
    )
    assert json.loads(output)[0]["waiting"] == 0
    stderr = failed(aiopyrq("stats", "--kind", "queue", name, url=url), 3)
    assert "certificate verify failed" in stderr


def test_demo_is_not_a_command():
    """The demo lives in the examples of a checkout (`make demo`), not in the package."""
    result = aiopyrq("demo", url="redis://127.0.0.1:1")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: aiopyrq")
    assert "invalid choice: 'demo'" in result.stderr


# Sharded queues


def shard_names(name: str, shards: int = 3) -> list[str]:
    return [f"{name}:{i}" for i in range(shards)]


async def dump_shards(client, name: str, shards: int = 3) -> dict[str, object]:
    """Every key of every shard and its content."""
    content: dict[str, object] = {}
    for shard in shard_names(name, shards):
        content |= await dump(client, shard)
    return content


async def items_held(client, name: str, shards: int = 3) -> list[str]:
    """Every item waiting, held or dead in the shards' lists, sorted."""
    lists = [v for v in (await dump_shards(client, name, shards)).values() if isinstance(v, list)]
    return sorted(item for content in lists for item in content)


async def busy_sharded(client, name: str, *, unique: bool = False):
    """30 items over 3 shards: a stale consumer holds 6, a live one 3, 3 are dead, 18 wait."""
    producer = ShardedQueue(name, client, shards=3, unique=unique)
    await producer.add_items(items_named(30))
    stale = ShardedQueue(name, client, shards=3, unique=unique)
    live = ShardedQueue(name, client, shards=3, unique=unique)
    rejecter = ShardedQueue(name, client, shards=3, unique=unique, max_deliveries=1)
    assert len(await stale.get_items(6)) == 6
    assert len(await live.get_items(3)) == 3
    assert await rejecter.reject_items(await rejecter.get_items(3)) == 3  # dead at once
    for shard in stale.shards:
        if await client.exists(shard.processing_queue_name):
            await age_lease(shard, OLD)
    return stale, live


async def shard_figures(client, queue: Queue) -> dict[str, int]:
    """What one shard holds, read from its keys."""
    leases = await client.hkeys(queue.timeouts_hash_name)
    return {
        "waiting": await client.llen(queue.keys.queue),
        "in_flight": sum([await client.llen(lease) for lease in leases]),
        "dead": await client.llen(queue.keys.dead),
    }


async def check_sharded_stats(client, url: str, name: str, stale, live) -> None:
    """stats --json and stats of the sharded queue busy_sharded made, against the keys."""
    [stats] = json.loads(ok(aiopyrq("stats", "--json", name, url=url)))

    assert (stats["name"], stats["kind"]) == (name, "unique" if stale.unique else "queue")
    assert (stats["waiting"], stats["in_flight"], stats["dead"]) == (18, 9, 3)
    assert [shard["name"] for shard in stats["shards"]] == shard_names(name)
    for shard, queue in zip(stats["shards"], stale.shards, strict=True):
        figures = {key: shard[key] for key in ("waiting", "in_flight", "dead")}
        assert figures == await shard_figures(client, queue)
    holders = {(c["shard"], c["id"]): c for c in stats["consumers"]}
    held = {
        (q.name, q.client_id): await client.llen(q.processing_queue_name)
        for consumer in (stale, live)
        for q in consumer.shards
    }
    assert {key: c["items"] for key, c in holders.items()} == {k: n for k, n in held.items() if n}
    for shard in stale.shards:
        if (shard.name, shard.client_id) in holders:
            assert holders[shard.name, shard.client_id]["lease_age"] >= OLD
    assert OLD <= stats["oldest_lease_age"] <= OLD + 30

    text = ok(aiopyrq("stats", name, url=url))
    kind = "UniqueQueues" if stale.unique else "Queues"
    assert text.splitlines()[0] == f"{name} (ShardedQueue of 3 {kind})"
    assert re.search(r"^  waiting +18  age of the oldest: unknown", text, re.MULTILINE)
    assert re.search(r"^  dead letters +3$", text, re.MULTILINE)
    header = r"^  shard +waiting +delayed +in flight +dead letters$"
    assert re.search(header, text, re.MULTILINE)
    for shard in stats["shards"]:
        figures = (shard["waiting"], shard["delayed"], shard["in_flight"], shard["dead"])
        row = rf"^  {shard['name']} +{' +'.join(map(str, figures))}$"
        assert re.search(row, text, re.MULTILINE)
    for (shard, consumer), holder in holders.items():
        row = rf"^  {shard} +{re.escape(consumer)} +{holder['items']}  [0-9]"
        assert re.search(row, text, re.MULTILINE)


@pytest.mark.parametrize("unique", [False, True])
async def test_stats_of_a_sharded_queue(redis_server, client, name, unique):
    """stats finds the shards NAME:0..2 of a ShardedQueue: each shard's figures and totals."""
    stale, live = await busy_sharded(client, name, unique=unique)

    await check_sharded_stats(client, redis_server.url, name, stale, live)


async def test_shards_found_up_to_the_highest_with_a_key(redis_server, client, name):
    """Shards are found up to the highest-numbered with a key; --shards N gives the count."""
    sharded = ShardedQueue(name, client, shards=5)
    await sharded.shards[0].add_items(["a", "b"])
    await sharded.shards[2].add_items(["c"])
    url = redis_server.url

    [found] = json.loads(ok(aiopyrq("stats", "--json", name, url=url)))
    assert [(s["name"], s["waiting"]) for s in found["shards"]] == [
        (f"{name}:0", 2),
        (f"{name}:1", 0),
        (f"{name}:2", 1),
    ]
    [given] = json.loads(ok(aiopyrq("stats", "--json", "--shards", "5", name, url=url)))
    assert [s["name"] for s in given["shards"]] == shard_names(name, 5)
    assert (given["waiting"], found["waiting"]) == (3, 3)
    watched = ok(aiopyrq("watch", name, "--interval", "0.05", "--count", "2", url=url))
    views = watched.split("aiopyrq watch  ")[1:]
    assert len(views) == 2
    assert re.search(rf"^{name} \(ShardedQueue of 3 Queues\)$", views[1], re.MULTILINE)
    assert re.search(r"^  waiting +3 \(\+0\)", views[1], re.MULTILINE)
    assert re.search(rf"^  {name}:2 +1 +0 +0 +0$", views[1], re.MULTILINE)

    await Queue(name, client).add_items(["own"])  # NAME has a key: a Queue of its own
    [own] = json.loads(ok(aiopyrq("stats", "--json", name, url=url)))
    assert "shards" not in own
    assert own["waiting"] == 1


async def test_a_pool_among_shards_or_no_shard(redis_server, client, name):
    """A Pool NAME:0 is not a shard (exit 5); --shards with no shard key exits 6."""
    await Pool(f"{name}:0", client).add_items(["x"])
    stderr = failed(aiopyrq("stats", name, url=redis_server.url), 5)
    assert f"'{name}:0' is a Pool: the shards of a sharded queue are Queues" in stderr

    stderr = failed(aiopyrq("stats", "--shards", "2", f"{name}-none", url=redis_server.url), 6)
    assert f"nor shards '{name}-none:0' to '{name}-none:1'" in stderr


async def test_peek_each_shard(redis_server, client, name):
    """peek lists each shard's next items, labelled with the shard, in the order of its gets."""
    sharded = ShardedQueue(name, client, shards=3)
    await sharded.add_items(items_named(12))

    lines = ok(aiopyrq("peek", name, "-n", "2", url=redis_server.url)).splitlines()

    expected = []
    for shard in sharded.shards:
        expected += [f"{shard.name}\t{item}" for item in await shard.get_items(2)]
    assert lines == expected
    assert len(lines) == 6


@pytest.mark.parametrize("unique", [False, True])
async def test_requeue_stale_over_shards(redis_server, client, name, unique):
    """requeue-stale puts back the stale consumer's items on every shard; dry run first."""
    stale, live = await busy_sharded(client, name, unique=unique)
    before = await dump_shards(client, name)
    url = redis_server.url

    dry = ok(aiopyrq("requeue-stale", name, "--older-than", "60", "--dry-run", url=url))
    stale_shards = [q for q in stale.shards if await client.exists(q.processing_queue_name)]
    assert dry.splitlines()[0] == (
        "would requeue 6 items of consumers whose lease is older than 60 s, "
        f"from {len(stale_shards)} consumers (dry run)"
    )
    for shard in stale_shards:
        assert f"  {shard.client_id} on {shard.name}  " in dry
    assert await dump_shards(client, name) == before

    done = ok(aiopyrq("requeue-stale", name, "--older-than", "60", url=url))
    assert done.splitlines()[0] == "requeued 6 items of consumers whose lease is older than 60 s"
    for shard in stale.shards:
        assert await client.exists(shard.processing_queue_name) == 0
    assert sum([await client.llen(q.processing_queue_name) for q in live.shards]) == 3
    assert await items_held(client, name) == sorted(items_named(30))  # nothing lost
    if unique:
        for shard in stale.shards:
            waiting = await client.lrange(shard.keys.queue, 0, -1)
            assert await client.smembers(shard.keys.unique) == set(waiting)


async def test_drop_stale_over_shards(redis_server, client, name):
    """drop-stale deletes the stale consumer's items on every shard, and only those."""
    stale, live = await busy_sharded(client, name)

    done = ok(aiopyrq("drop-stale", name, "--older-than", "60", url=redis_server.url))

    assert done.splitlines()[0] == "dropped 6 items of consumers whose lease is older than 60 s"
    for shard in stale.shards:
        assert await client.exists(shard.processing_queue_name) == 0
    assert len(await items_held(client, name)) == 30 - 6
    assert sum([await client.llen(q.processing_queue_name) for q in live.shards]) == 3


async def test_dead_letters_over_shards(redis_server, client, name):
    """dead list shows each shard's dead letters; requeue and purge count all shards."""
    sharded = ShardedQueue(name, client, shards=3, max_deliveries=1)
    await sharded.add_items(items_named(9))
    assert await sharded.reject_items(await sharded.get_items(5)) == 5
    url = redis_server.url
    dead = {q.name: await client.lrange(q.keys.dead, 0, -1) for q in sharded.shards}

    listed = ok(aiopyrq("dead", "list", name, url=url)).splitlines()
    shown = [(line.split("\t")[0], line.rsplit("  ", 1)[1]) for line in listed]
    assert shown == [(shard, item) for shard, items in dead.items() for item in items]
    assert all("  1 delivery  " in line for line in listed)
    before = await dump_shards(client, name)
    assert ok(aiopyrq("dead", "requeue", name, "--dry-run", url=url)) == (
        "would requeue 5 dead letters (dry run)\n"
    )
    assert await dump_shards(client, name) == before
    assert ok(aiopyrq("dead", "requeue", name, url=url)) == "requeued 5 dead letters\n"
    assert await sharded.get_dead_count() == 0
    assert await sharded.get_count() == 9

    await sharded.reject_items(await sharded.get_items(9))
    assert ok(aiopyrq("dead", "purge", name, url=url)) == "purged 9 dead letters\n"
    assert await items_held(client, name) == []


# Redis Cluster


@pytest.fixture
async def cc(cluster):
    """A RedisCluster client of the session's cluster."""
    client = RedisCluster(startup_nodes=cluster.startup_nodes, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def test_cluster_stats_and_peek(cluster, cc, name):
    """On a cluster (found from INFO) stats and peek read the hash-tagged keys {NAME}..."""
    stale, live = await busy_queue(cc, name)
    assert stale.keys.queue == f"{{{name}}}"

    [stats] = json.loads(ok(aiopyrq("stats", "--json", name, url=cluster.url)))

    assert (stats["waiting"], stats["in_flight"], stats["dead"]) == (10, 8, 2)
    assert stats["waiting"] == await cc.llen(f"{{{name}}}")
    assert stats["dead"] == await cc.llen(f"{{{name}}}-dead")
    consumers = {c["id"]: c for c in stats["consumers"]}
    assert consumers[stale.client_id]["processing_list"] == stale.processing_queue_name
    assert consumers[stale.client_id]["lease_age"] >= OLD
    assert consumers[live.client_id]["items"] == 3
    forced = ok(aiopyrq("--cluster", "stats", "--json", name, url=cluster.url))
    assert json.loads(forced)[0]["waiting"] == 10
    assert ok(aiopyrq("peek", name, "-n", "3", url=cluster.url)).splitlines() == [
        "item-10",
        "item-11",
        "item-12",
    ]


async def test_cluster_requeue_stale_and_dead(cluster, cc, name):
    """On a cluster requeue-stale and dead list, requeue and purge work; dry runs change nothing."""
    stale, live = await busy_queue(cc, name)
    url = cluster.url
    before = await dump(cc, name)

    dry = ok(aiopyrq("requeue-stale", name, "--older-than", "60", "--dry-run", url=url))
    assert dry.startswith("would requeue 5 items ")
    assert ok(aiopyrq("dead", "purge", name, "--dry-run", url=url)).startswith("would purge 2 ")
    assert await dump(cc, name) == before

    done = ok(aiopyrq("requeue-stale", name, "--older-than", "60", url=url))
    assert done.splitlines()[0] == "requeued 5 items of consumers whose lease is older than 60 s"
    assert await cc.exists(stale.processing_queue_name) == 0
    assert await cc.lrange(f"{{{name}}}", -5, -1) == items_named(5)[::-1]
    listed = ok(aiopyrq("dead", "list", name, url=url)).splitlines()
    assert [line.rsplit("  ", 1)[1] for line in listed] == ["item-8", "item-9"]
    assert ok(aiopyrq("dead", "requeue", name, url=url)) == "requeued 2 dead letters\n"
    assert await cc.llen(f"{{{name}}}") == 17
    assert await live.reject_items(await live.get_items(20)) == 17  # max_deliveries=1
    assert ok(aiopyrq("dead", "purge", name, url=url)) == "purged 17 dead letters\n"
    assert await cc.exists(f"{{{name}}}", f"{{{name}}}-dead") == 0
    assert await cc.llen(live.processing_queue_name) == 3


async def test_cluster_sharded_queue(cluster, cc, name):
    """A ShardedQueue on a cluster: shards found on every master, figures, requeue-stale."""
    stale, live = await busy_sharded(cc, name)
    assert len({cluster.master_of(q.keys.queue).port for q in stale.shards}) > 1

    await check_sharded_stats(cc, cluster.url, name, stale, live)

    done = ok(aiopyrq("requeue-stale", name, "--older-than", "60", url=cluster.url))
    assert done.splitlines()[0] == "requeued 6 items of consumers whose lease is older than 60 s"
    assert await items_held(cc, name) == sorted(items_named(30))  # nothing lost
    assert ok(aiopyrq("dead", "requeue", name, url=cluster.url)) == "requeued 3 dead letters\n"
    assert await stale.get_count() == 18 + 6 + 3


def test_no_cluster_on_a_cluster(cluster, name):
    """--no-cluster on a cluster node: one line saying to leave it out, exit code 2."""
    told = f"aiopyrq: {cluster.url} is a Redis Cluster node: leave out --no-cluster"
    for command in (["stats", name], ["peek", name], ["recover-stale", name, "--older-than", "1"]):
        stderr = failed(aiopyrq("--no-cluster", *command, "--kind", "queue", url=cluster.url), 2)
        assert stderr.startswith(told), stderr
        assert "pipeline" not in stderr


def test_cluster_options(redis_server, name):
    """--cluster on a server that is not a cluster node exits 3; --no-cluster skips INFO."""
    stderr = failed(aiopyrq("--cluster", "stats", name, url=redis_server.url), 3)
    assert f"cannot reach {redis_server.url}: " in stderr
    assert "Cluster mode is not enabled" in stderr
    output = ok(aiopyrq("--no-cluster", "stats", "--kind", "queue", name, url=redis_server.url))
    assert output.splitlines()[0] == f"{name} (Queue)"


async def write_history(client, queue, minutes_ago: dict[int, str]) -> int:
    """Write history slots of minutes before the server's current one; return that minute.

    Each value is the counts of the minute: ``"added delivered acked failed recovered dead
    waiting"``, as the scripts write them (lua/includes/history.lua). Waits for the next
    minute if this one is about to end, so that the command run next sees the same current
    minute.
    """
    now, _ = await client.time()
    if now % 60 > 50:
        await asyncio.sleep(61 - now % 60)
        now, _ = await client.time()
    minute = now // 60
    for ago, counts in minutes_ago.items():
        numbers = dict(zip("adkfrxw", map(int, counts.split()), strict=True))
        await client.hset(queue.keys.history, mapping=history_slot(minute - ago, numbers))
    return minute


async def test_stats_show_items_per_second_from_the_history(redis_server, client, name):
    """stats shows the items per second of the last full minute and of the last 5, as JSON too."""
    queue = Queue(name, client)
    await queue.add_items(["x"])  # this minute: still counting, left out
    await write_history(
        client,
        queue,
        {1: "120 60 30 6 0 0 5", 2: "60 0 0 0 0 0 9", 6: "6000 0 0 0 0 0 9"},
    )

    [stats] = json.loads(ok(aiopyrq("stats", "--json", name, url=redis_server.url)))
    output = ok(aiopyrq("stats", name, url=redis_server.url))

    last, five = (
        stats["history_per_second"]["last_minute"],
        stats["history_per_second"]["last_5_minutes"],
    )
    assert last == {
        "added": 2.0,
        "delivered": 1.0,
        "acked": 0.5,
        "failed": 0.1,
        "recovered": 0.0,
        "dead": 0.0,
    }
    assert five == {
        "added": 0.6,
        "delivered": 0.2,
        "acked": 0.1,
        "failed": 0.02,
        "recovered": 0.0,
        "dead": 0.0,
    }
    assert re.search(
        r"^  last minute: +added 2\.00  delivered 1\.00  acked 0\.50  failed 0\.10"
        r"  recovered 0\.00  dead 0\.00  \(items/s\)$",
        output,
        re.MULTILINE,
    )
    five_minutes = r"^  last 5 minutes: +added 0\.60  delivered 0\.20  acked 0\.10  failed 0\.02 "
    assert re.search(five_minutes, output, re.MULTILINE)


async def test_stats_items_per_second_of_a_sharded_queue_and_a_pool(redis_server, client, name):
    """A sharded queue's rates are its shards' added up; a Pool has its own."""
    sharded = ShardedQueue(name, client, shards=2)
    await sharded.add_items(["a", "b"])
    for shard, counts in zip(sharded.shards, ["60 0 0 0 0 0 1", "120 0 0 0 0 0 2"], strict=True):
        await write_history(client, shard, {1: counts})
    pool = Pool(f"{name}-pool", client)
    await pool.add_items(["p"])
    await write_history(client, pool, {1: "0 30 0 0 0 0 0"})

    stats = json.loads(ok(aiopyrq("stats", "--json", name, f"{name}-pool", url=redis_server.url)))

    assert stats[0]["history_per_second"]["last_minute"]["added"] == 3.0
    assert stats[1]["history_per_second"]["last_minute"]["delivered"] == 0.5


async def test_watch_shows_items_per_second(redis_server, client, name):
    """watch shows the rates from the history in each view, without --over."""
    queue = Queue(name, client)
    await queue.add_items(["x"])
    await write_history(client, queue, {1: "30 0 0 0 0 0 0"})

    output = ok(aiopyrq("watch", name, "--interval", "0.05", "--count", "2", url=redis_server.url))

    views = output.split("aiopyrq watch  ")[1:]
    assert len(views) == 2
    for view in views:
        assert re.search(r"^  last minute: +added 0\.50  delivered 0\.00 ", view, re.MULTILINE)
