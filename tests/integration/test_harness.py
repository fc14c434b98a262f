"""The throwaway servers of tests.harness, against the real server binary."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio

from tests.harness import RedisServer, ServerNotFoundError, find_server_binary

pytestmark = pytest.mark.redis


def test_start_and_stop():
    """A server answers on its loopback port and is gone after the context manager."""
    with RedisServer() as server:
        assert server.host == "127.0.0.1"
        assert server.port != 6379
        assert server.url == f"redis://127.0.0.1:{server.port}"
        assert server.version[0].isdigit()
        with redis.Redis.from_url(server.url) as client:
            assert client.ping()
    assert not server.running
    assert not server.dir.exists()
    with (
        redis.Redis.from_url(server.url, socket_connect_timeout=1) as client,
        pytest.raises(redis.ConnectionError),
    ):
        client.ping()


async def test_fixtures(client, raw_client, name):
    """The client fixture decodes replies, raw_client does not."""
    await client.set(name, "value")
    assert await client.get(name) == "value"
    assert await raw_client.get(name) == b"value"
    await client.delete(name)


def test_restart_keeps_aof_data():
    """After a crash, restart reloads the append-only file on the same port."""
    with RedisServer(appendonly=True) as server:
        port = server.port
        with redis.Redis.from_url(server.url) as client:
            client.set("key", "value")
        server.kill()
        server.restart()
        assert server.port == port
        with redis.Redis.from_url(server.url) as client:
            assert client.get("key") == b"value"


def test_replica_sync(replicated, name):
    """A write on the master can be read on the replica once wait_for_replicas returns."""
    with redis.Redis.from_url(replicated.master.url) as master:
        master.set(name, "value")
        replicated.master.wait_for_replicas(1, timeout=10)
        with redis.Redis.from_url(replicated.replica.url) as replica:
            assert replica.get(name) == b"value"
        master.delete(name)


def test_kill():
    """kill() ends the process at once with SIGKILL."""
    with RedisServer() as server:
        process = server._process
        server.kill()
        assert not server.running
        assert process is not None
        assert process.returncode == -9


async def test_pause_and_resume():
    """A paused server times commands out; once resumed it answers again."""
    with RedisServer() as server:
        client = redis.asyncio.Redis.from_url(server.url, socket_timeout=0.3)
        try:
            assert await client.ping()
            server.pause()
            with pytest.raises(redis.TimeoutError):
                await client.ping()
            server.resume()
            assert await client.ping()
        finally:
            await client.aclose()


def test_bad_server_bin(monkeypatch, tmp_path):
    """AIOPYRQ_SERVER_BIN must name an executable file."""
    monkeypatch.setenv("AIOPYRQ_SERVER_BIN", str(tmp_path / "missing"))
    with pytest.raises(ServerNotFoundError, match="AIOPYRQ_SERVER_BIN"):
        find_server_binary()


def test_server_with_a_password_starts():
    """A server started with --requirepass is seen as up, and refuses a client without it."""
    with RedisServer(extra_args=["--requirepass", "secret"]) as server:
        with redis.Redis(port=server.port, password="secret") as client:  # noqa: S106
            assert client.ping()
        with redis.Redis(port=server.port) as client, pytest.raises(redis.AuthenticationError):
            client.set("x", 1)
