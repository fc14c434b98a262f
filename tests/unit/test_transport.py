"""Which path script calls take (aiopyrq._transport): no server needed, no connection made."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection, UnixDomainSocketConnection

from aiopyrq import _transport
from aiopyrq._transport import _choice, _fast, _plain

ROOT = Path(__file__).resolve().parents[2]


class Instrumented(Connection):
    """A user's own connection class: the fast path is not proven on it."""


def matrix():
    spec = importlib.util.spec_from_file_location("matrix", ROOT / "ci" / "matrix.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["matrix"] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_proven_versions_are_the_ones_ci_runs():
    """The fast path is proven on exactly the redis-py versions of CI's matrix."""
    versions = {_choice._version(v) for v in matrix().REDIS_PY}
    assert versions == _transport.PROVEN_REDIS_PY


def test_matrix_runs_every_version_on_both_transports():
    """Each redis-py of the matrix runs with the fast and the plain transport."""
    combinations = matrix().combinations()
    for version in matrix().REDIS_PY:
        assert {c.transport for c in combinations if c.redis == version} == {"fast", "plain"}


@pytest.mark.parametrize(
    ("text", "version"), [("5.0.8", (5, 0)), ("6.0.0b2", (6, 0)), ("8.10.1", (8, 10))]
)
def test_version(text, version):
    """A version string gives its (major, minor)."""
    assert _choice._version(text) == version


@pytest.mark.parametrize(
    ("value", "forced"), [("", "auto"), ("auto", "auto"), (" PLAIN ", "plain"), ("fast", "fast")]
)
def test_forced(value, forced):
    """The variable names a transport, in any case; unset or empty means auto."""
    assert _choice._forced(value) == forced


def test_a_bad_value_fails_the_import():
    """A value that names no transport fails the import with a clear ValueError."""
    env = {**os.environ, "AIOPYRQ_TRANSPORT": "fastest"}
    result = subprocess.run(
        [sys.executable, "-c", "import aiopyrq"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode != 0
    assert "ValueError: AIOPYRQ_TRANSPORT must be one of auto, fast, plain, not 'fastest'" in (
        result.stderr
    )


@pytest.mark.parametrize("value", ["fast", "plain"])
def test_the_variable_is_read_at_import(value):
    """AIOPYRQ_TRANSPORT in the environment of the process forces its path."""
    env = {**os.environ, "AIOPYRQ_TRANSPORT": value}
    code = "import aiopyrq._transport as t; print(t.FORCED)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == value


def test_auto_takes_the_fast_path_where_proven():
    """A plain Redis client on a proven redis-py takes the fast path; elsewhere, the plain one."""
    client = redis.asyncio.Redis()
    assert _choice.choose(client, "auto") is (
        _fast if _choice.REDIS_PY in _choice.PROVEN_REDIS_PY else _plain
    )
    assert _choice.proven(client, (8, 1))
    assert not _choice.proven(client, (8, 2))
    assert not _choice.proven(client, (4, 6))


@pytest.mark.parametrize("connection_class", [Instrumented, UnixDomainSocketConnection])
def test_an_unproven_connection_class_takes_the_plain_path(connection_class):
    """A connection class the suite does not run the fast path on gets the plain path."""
    pool = redis.asyncio.ConnectionPool(connection_class=connection_class)
    client = redis.asyncio.Redis(connection_pool=pool)
    assert not _choice.proven(client, (8, 1))
    assert _choice.choose(client, "auto") is _plain
    assert _choice.choose(client, "fast") is _fast


def test_cluster_client_is_judged_by_its_connection_class():
    """A RedisCluster client's connection class is looked at as a Redis client's is."""
    client = RedisCluster(host="127.0.0.1", port=1)  # nothing is connected before a command
    assert _choice.proven(client, (8, 1))
    assert _choice.choose(client, "plain") is _plain


def test_the_choice_is_kept_per_client():
    """A client's path is chosen once, on its first call."""
    client = redis.asyncio.Redis()
    assert _transport.path(client) is _transport.path(client)
    assert _transport.path(client) is _choice.choose(client)
