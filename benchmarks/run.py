"""Benchmark this library against the original aio-py-rq 4.1.0 and raw Redis Streams.

``make bench`` (``BENCH_ARGS="--quick"`` for a smoke run). One throwaway server; every
workload runs in fresh subprocesses on fresh keys, targets interleaved over the rounds. Also
this library's own measures: the Consumer runtime's latency, the recovery of a killed
Consumer's items, and a ShardedQueue's Redis CPU per master on throwaway clusters of 1 and 3
masters. Writes ``results/latest.json`` and ``results/latest.md`` and prints the table. See
README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import importlib.resources
import itertools
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from aiopyrq import _scripts

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the checkout's test harness: tests.harness
from tests.harness import ClusterServers, RedisServer  # noqa: E402

WORKLOAD = HERE / "workload.py"
ORIGINAL = "aio-py-rq==4.1.0"
TIMEOUT = 600.0  # seconds for one workload
STRUCTURES = ("queue", "unique", "pool")
CONFIGS = {  # name: (consumer processes, 0 = all in one process; items per get and ack)
    "1 process, 4 tasks": (0, 100),
    "2 consumer processes": (2, 100),
    "one at a time": (0, 1),
}
MEASURES = ("throughput", "idle", "consumer", "runtime", "delay", "recovery", "cluster")
DELAYED = ("queue", "unique")  # the structures that take add_items(..., delay=...)
OURS = ("aiopyrq", "baseline")  # this library, now and at --baseline
RUNTIME = {  # the Consumer vs the raw loop, one process: name: Consumer concurrency, 0 = raw
    "raw: 4 tasks get_items(100), ack_items": 0,
    "Consumer, concurrency=10": 10,
    "Consumer, concurrency=100": 100,
}
CLUSTER_MASTERS = (1, 3)
POLL = 0.01  # seconds between two looks at the killed consumer's processing list


class BenchmarkError(Exception):
    """A workload failed, or lost or duplicated an item."""


@dataclass(frozen=True)
class Target:
    """Something measured: a Python with aiopyrq installed, or raw Streams."""

    name: str
    python: str
    kind: str


def original_python() -> str:
    """Create (once) the venv of the original library, with the same hiredis as ours."""
    return venv_python(HERE / ".venv-original", [ORIGINAL])


def baseline_python(ref: str) -> str:
    """Create (once per commit) a venv of this library as it was at the git commit ``ref``.

    The commit is exported with ``git archive`` and installed with the same redis-py and
    hiredis as ours, so that the two columns differ by the library's code alone.
    """
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"],  # noqa: S607 - git on PATH
        capture_output=True, text=True, check=True, cwd=HERE,
    ).stdout.strip()  # fmt: skip
    source = HERE / ".venv-baseline" / "src" / sha
    if not (source / "pyproject.toml").exists():
        source.mkdir(parents=True, exist_ok=True)
        git_archive = ["git", "-C", str(HERE.parent), "archive", sha]  # the whole tree
        archive = subprocess.run(git_archive, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)  # noqa: S607
    requirements = [str(source), f"redis=={importlib.metadata.version('redis')}"]
    return venv_python(HERE / ".venv-baseline" / sha, requirements)


def venv_python(venv: Path, requirements: list[str]) -> str:
    """Create (once) a venv with these requirements and our hiredis; return its Python."""
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        requirements = [*requirements, f"hiredis=={importlib.metadata.version('hiredis')}"]
    marker, python = venv / ".installed", venv / "bin" / "python"
    if not marker.exists() or marker.read_text() != " ".join(requirements):
        print(f"installing {' '.join(requirements)} into {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", *requirements]
        subprocess.run(pip, check=True)
        marker.write_text(" ".join(requirements))
    return str(python)


class Server:
    """The server's counters, read with a client of the orchestrator's own."""

    def __init__(self, server: RedisServer) -> None:
        """Connect to the started server."""
        self.url, self.version, self.binary = server.url, server.version, server.binary
        self.client = redis.Redis(server.host, server.port, decode_responses=True)

    def counters(self) -> dict[str, float]:
        """CPU seconds and calls per command so far (our own INFO calls left out)."""
        info = self.client.info("cpu", "commandstats")
        counters = {k[8:]: float(v["calls"]) for k, v in info.items() if k.startswith("cmdstat_")}
        counters.pop("info", None)
        return counters | {"_cpu": info["used_cpu_sys"] + info["used_cpu_user"]}

    def used_memory(self) -> int:
        """Wait (bounded) until lazy freeing is done, then return used_memory."""
        for _ in range(500):
            info = self.client.info("memory")
            if not info.get("lazyfree_pending_objects"):
                break
            time.sleep(0.01)
        return int(info["used_memory"])

    def load_scripts(self) -> None:
        """Load every script of this library, so that no NOSCRIPT reload falls in a window."""
        for path in (importlib.resources.files("aiopyrq") / "lua").iterdir():
            if path.name.endswith(".lua"):
                self.client.script_load(_scripts.load(path.name.removesuffix(".lua")).source)

    def key_bytes(self, prefix: str) -> int:
        """Exact memory of a workload's keys (MEMORY USAGE with every element sampled)."""
        keys = self.client.scan_iter(match=f"{prefix}*", count=1000)
        return sum(int(self.client.memory_usage(key, samples=0) or 0) for key in keys)

    def delete(self, prefix: str) -> None:
        """Delete a workload's keys."""
        for key in self.client.scan_iter(match=f"{prefix}*", count=1000):
            self.client.unlink(key)


async def spawn(python: str, args: list[str]) -> asyncio.subprocess.Process:
    """Start one workload process, its stdin and stdout piped to us."""
    return await asyncio.create_subprocess_exec(
        python, str(WORKLOAD), *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, limit=1 << 26
    )


async def run_processes(
    servers: list[Server], target: Target, args: list[list[str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run workload processes; the first adds, the others are told ``done`` when it finished.

    Returns:
        Each process's JSON result, and the window: go time, Redis CPU (in all and per
        server) and calls between go and the last result.
    """
    procs = [await spawn(target.python, a) for a in args]
    try:
        for proc in procs:
            await expect(proc, "ready")
        before, t_go = [server.counters() for server in servers], time.time()
        for proc in procs:
            await say(proc, "go")
        results = [json.loads(await expect(procs[0]))]
        for proc in procs[1:]:
            await say(proc, "done")
        results += [json.loads(await expect(proc)) for proc in procs[1:]]
        after = [server.counters() for server in servers]
        for proc in procs:
            if await asyncio.wait_for(proc.wait(), TIMEOUT):
                msg = f"{target.name}: {args} exited with {proc.returncode}"
                raise BenchmarkError(msg)
    finally:
        await reap(procs)
    deltas = [
        {cmd: new[cmd] - old.get(cmd, 0) for cmd in new if new[cmd] != old.get(cmd)}
        for old, new in zip(before, after, strict=True)
    ]
    cpus = [delta.pop("_cpu", 0.0) for delta in deltas]
    commands = {cmd: sum(delta.get(cmd, 0) for delta in deltas) for cmd in set().union(*deltas)}
    window = {"t_go": t_go, "cpu_s": sum(cpus), "server_cpu_s": cpus}
    return results, window | {"calls": sum(commands.values()), "commands": commands}


async def reap(procs: list[asyncio.subprocess.Process]) -> None:
    """Kill the workload processes still running."""
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def expect(proc: asyncio.subprocess.Process, wanted: str | None = None) -> str:
    """Read one line of a workload's output (its result, or ``wanted``)."""
    assert proc.stdout is not None  # noqa: S101
    line = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode().strip()
    if not line or (wanted and line != wanted):
        msg = f"workload said {line[:200]!r}, expected {wanted or 'a result'}"
        raise BenchmarkError(msg)
    return line


async def say(proc: asyncio.subprocess.Process, line: str) -> None:
    """Write one line to a workload."""
    assert proc.stdin is not None  # noqa: S101
    proc.stdin.write(f"{line}\n".encode())
    await proc.stdin.drain()


def check_ids(what: str, received: list[str], items: int) -> None:
    """Fail unless every id 0..items-1 was received exactly once."""
    expected = {str(i) for i in range(items)}
    got = set(received)
    if len(received) != items or got != expected:
        lost, dup = len(expected - got), len(received) - len(got)
        msg = f"{what}: {len(received)} of {items} received, {lost} lost, {dup} duplicates"
        raise BenchmarkError(msg)


class Bench:
    """The runs of one benchmark, and their samples."""

    def __init__(self, server: Server, opts: argparse.Namespace) -> None:
        """Remember the server and the options."""
        self.server, self.opts = server, opts
        self.samples: list[dict[str, Any]] = []
        self.versions: dict[str, str] = {}
        self.runs = 0

    async def workload(
        self, target: Target, structure: str, args: list[list[str]]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Run one workload on fresh keys; used_memory delta before they are deleted."""
        self.runs += 1
        prefix = f"bench:{self.runs}:"
        common = ["--kind", target.kind, "--structure", structure, "--url", self.server.url]
        common += ["--name", f"{prefix}q"]
        before = self.server.used_memory()
        try:
            results, window = await run_processes([self.server], target, [a + common for a in args])
            window["memory"] = self.server.used_memory() - before
            window["key_bytes"] = self.server.key_bytes(prefix)
        finally:
            self.server.delete(prefix)
        versions = {r["redis_py"] + (" + hiredis" if r["hiredis"] else "") for r in results}
        self.versions[target.name] = ", ".join(sorted(versions))
        return results, window

    def add(self, sample: dict[str, Any]) -> None:
        """Record one sample and show it."""
        self.samples.append(sample)
        shown = {k: round(v, 2) if isinstance(v, float) else v for k, v in sample.items()}
        print(json.dumps(shown), file=sys.stderr)

    async def throughput(self, rnd: int, config: str, structure: str, target: Target) -> None:
        """Producer and consumers; every id counted."""
        processes, batch = CONFIGS[config]
        items = self.opts.items if batch > 1 else self.opts.single_items
        run = ["throughput", "--items", str(items), "--get-batch", str(batch)]
        tasks = ["--tasks", str(self.opts.tasks)]
        if processes:
            args = [[*run, "--role", "producer"]]
            args += [[*run, *tasks, "--role", "consumer"]] * processes
        else:
            args = [[*run, *tasks, "--role", "all"]]
        results, window = await self.workload(target, structure, args)
        check_ids(
            f"{target.name} {structure} {config}",
            list(itertools.chain(*(r["received"] for r in results))),
            items,
        )
        elapsed = max(r["t_last"] for r in results) - window["t_go"]
        self.add({
            "measure": "throughput", "round": rnd, "config": config, "structure": structure,
            "target": target.name, "items": items, "items_per_s": items / elapsed,
            "redis_cpu_us": 1e6 * window["cpu_s"] / items, "calls": window["calls"] / items,
            "client_cpu_us": 1e6 * sum(r["cpu_s"] for r in results) / items,
            "empty_gets": sum(r["empty_gets"] for r in results), "commands": window["commands"],
        })  # fmt: skip

    async def runtime(self, rnd: int, case: str, target: Target) -> None:
        """A Queue's items through a no-op handler Consumer, or through the raw loop."""
        items, concurrency = self.opts.items, RUNTIME[case]
        args = ["throughput", "--items", str(items), "--tasks", str(self.opts.tasks)]
        args += ["--runtime", str(concurrency)] if concurrency else []
        results, window = await self.workload(target, "queue", [[*args, "--role", "all"]])
        check_ids(f"{target.name} {case}", results[0]["received"], items)
        self.add({
            "measure": "runtime", "round": rnd, "case": case, "target": target.name,
            "items": items, "items_per_s": items / (results[0]["t_last"] - window["t_go"]),
            "redis_cpu_us": 1e6 * window["cpu_s"] / items, "calls": window["calls"] / items,
            "client_cpu_us": 1e6 * results[0]["cpu_s"] / items, "commands": window["commands"],
        })  # fmt: skip

    async def latency(
        self, rnd: int, structure: str, target: Target, *, runtime: bool = False
    ) -> None:
        """One item every 5 ms to an idle consumer (with runtime: an aiopyrq.Consumer)."""
        items = self.opts.latency_items
        args = ["latency", "--items", str(items), "--idle", str(self.opts.idle)]
        args += ["--poll-interval", str(self.opts.poll_interval)]
        args += ["--consumer"] if runtime else []
        results, window = await self.workload(target, structure, [args])
        result = results[0]
        check_ids(f"{target.name} {structure} latency", result["received"], items)
        self.add({
            "measure": "latency", "round": rnd, "structure": structure, "target": target.name,
            "mode": result["mode"], "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"],
            "calls": (window["calls"] - result["idle_calls"]) / items,
            "idle_calls_per_s": result["idle_calls"] / self.opts.idle,
        })  # fmt: skip

    async def delay(self, rnd: int, structure: str, target: Target) -> None:
        """Items added with a delay, one every 5 ms, to a Consumer: due time to handler."""
        items, delay = self.opts.latency_items, self.opts.delay
        args = ["latency", "--items", str(items), "--idle", "0", "--consumer"]
        results, _ = await self.workload(target, structure, [[*args, "--delay", str(delay)]])
        result = results[0]
        check_ids(f"{target.name} {structure} delayed", result["received"], items)
        if result["min_ms"] < -1:  # due times are whole ms of the server's clock
            msg = f"{structure}: an item delayed {delay} s came {-result['min_ms']:.1f} ms early"
            raise BenchmarkError(msg)
        self.add({
            "measure": "delay", "round": rnd, "structure": structure, "target": target.name,
            "delay_s": delay, "items": items, "p50_ms": result["p50_ms"],
            "p99_ms": result["p99_ms"], "min_ms": result["min_ms"], "max_ms": result["max_ms"],
        })  # fmt: skip

    async def memory(self, rnd: int, structure: str, target: Target) -> None:
        """used_memory delta of items left waiting."""
        items = self.opts.memory_items
        results, window = await self.workload(target, structure, [["fill", "--items", str(items)]])
        if results[0]["waiting"] != items:
            msg = f"{target.name} {structure}: {results[0]['waiting']} of {items} waiting"
            raise BenchmarkError(msg)
        self.add({
            "measure": "memory", "round": rnd, "structure": structure, "target": target.name,
            "bytes_per_item": window["key_bytes"] / items,
            "used_memory_per_item": window["memory"] / items,
        })  # fmt: skip

    async def recovery(self, rnd: int, target: Target) -> None:
        """SIGKILL a Consumer holding a batch; time until a live Consumer's reaper gave it back.

        The survivor starts once the victim holds the whole batch, and runs 1-2 s (random)
        before the kill, so that the kill falls anywhere in the heartbeat and sweep cycles.
        """
        items = self.opts.recovery_items
        self.runs += 1
        prefix = f"bench:{self.runs}:"
        run = ["recovery", "--items", str(items), "--url", self.server.url, "--name", f"{prefix}q"]
        run += ["--lease-timeout", str(self.opts.lease_timeout)]
        run += ["--sweep-interval", str(self.opts.sweep_interval)]
        procs = [await spawn(target.python, [*run, "--role", "victim"])]
        try:
            holding = json.loads(await expect(procs[0]))
            check_ids("recovery: the victim's batch", holding["holding"], items)
            procs.append(await spawn(target.python, [*run, "--role", "survivor"]))
            await expect(procs[1], "ready")
            await asyncio.sleep(random.uniform(1.0, 2.0))  # noqa: S311 - not cryptography
            if self.server.client.llen(holding["processing"]) != items:
                msg = "recovery: items were taken from the live victim"
                raise BenchmarkError(msg)
            t_kill = time.time()
            procs[0].kill()  # SIGKILL
            back = await self.gone(holding["processing"], t_kill)
            result = json.loads(await expect(procs[1]))
            check_ids("recovery: the survivor", result["received"], items)
        finally:
            await reap(procs)
            self.server.delete(prefix)
        self.add({
            "measure": "recovery", "round": rnd, "items": items, "back_s": back,
            "handled_s": result["t_handled"] - t_kill, "recovered": result["recovered"],
            "lease_timeout": self.opts.lease_timeout, "sweep_interval": self.opts.sweep_interval,
            "bound_s": self.bound(),
        })  # fmt: skip

    def bound(self) -> float:
        """The longest recovery in theory: the lease's age is counted in whole seconds."""
        return self.opts.lease_timeout + self.opts.sweep_interval + 1

    async def gone(self, key: str, since: float) -> float:
        """Poll until key is gone (every 10 ms, bounded); return the seconds since since."""
        limit = 10 * self.bound()
        while self.server.client.exists(key):
            if time.time() - since > limit:
                msg = f"recovery: {key} still there {limit} s after the kill"
                raise BenchmarkError(msg)
            await asyncio.sleep(POLL)
        return time.time() - since

    async def cluster(self, rnd: int, masters: int, target: Target) -> None:
        """Producer and consumers over a ShardedQueue on a fresh cluster; each master's CPU."""
        items, shards = self.opts.cluster_items, self.opts.shards
        processes, batch = CONFIGS["2 consumer processes"]
        with ClusterServers(masters=masters, replicas=0) as deployment:
            servers = [Server(master) for master in deployment.masters]
            for server in servers:
                server.load_scripts()
            name, placement = spread_shards(deployment, shards)
            run = ["throughput", "--items", str(items), "--get-batch", str(batch), "--cluster"]
            run += ["--structure", "sharded", "--shards", str(shards), "--name", name]
            run += ["--url", deployment.url]
            args = [[*run, "--role", "producer"]]
            args += [[*run, "--tasks", str(self.opts.tasks), "--role", "consumer"]] * processes
            before = [server.counters()["_cpu"] for server in servers]
            await asyncio.sleep(1.0)  # the masters' own CPU use, when idle, over 1 s
            idle = [s.counters()["_cpu"] - cpu for s, cpu in zip(servers, before, strict=True)]
            results, window = await run_processes(servers, target, args)
            for server in servers:
                server.client.close()
        check_ids(
            f"cluster of {masters} masters",
            list(itertools.chain(*(r["received"] for r in results))),
            items,
        )
        elapsed = max(r["t_last"] for r in results) - window["t_go"]
        per_master = [1e6 * cpu / items for cpu in window["server_cpu_s"]]
        self.add({
            "measure": "cluster", "round": rnd, "masters": masters, "shards": shards,
            "shards_per_master": placement, "items": items, "items_per_s": items / elapsed,
            "redis_cpu_us": sum(per_master), "master_cpu_us": per_master,
            "busiest_cpu_us": max(per_master),
            "shares": [cpu / sum(per_master) for cpu in per_master],
            "idle_cpu_us_per_s": [1e6 * cpu for cpu in idle],
            "calls": window["calls"] / items, "commands": window["commands"],
        })  # fmt: skip

    async def run(self, targets: list[Target]) -> None:
        """All measures, rounds outermost, the target order rotated each round."""
        measures = self.opts.measures
        for rnd in range(self.opts.rounds):
            order = targets[rnd % len(targets) :] + targets[: rnd % len(targets)]
            cases = [
                (t, s) for s in STRUCTURES for t in order if t.kind != "streams" or s == "queue"
            ]
            for config in CONFIGS if "throughput" in measures else ():
                for target, structure in cases:
                    await self.throughput(rnd, config, structure, target)
            cases = [(t, s) for t, s in cases if t.kind != "sync"]  # throughput only
            for target, structure in cases:
                if "idle" in measures:
                    await self.latency(rnd, structure, target)
                    await self.memory(rnd, structure, target)
                if "consumer" in measures and target.name == "aiopyrq":
                    await self.latency(rnd, structure, target, runtime=True)
                if "delay" in measures and target.name in OURS and structure in DELAYED:
                    await self.delay(rnd, structure, target)
            await self.runtimes(rnd, order)
            for target in order:
                if target.name == "aiopyrq":
                    await self.ours_only(rnd, target)

    async def runtimes(self, rnd: int, order: list[Target]) -> None:
        """The Consumer vs the raw loop, for one round (this library and its baseline)."""
        ours = [t for t in order if t.name in {"aiopyrq", "baseline"}]  # they have a Consumer
        for case in RUNTIME if "runtime" in self.opts.measures else ():
            for target in ours:
                await self.runtime(rnd, case, target)

    async def ours_only(self, rnd: int, target: Target) -> None:
        """This library's recovery and cluster measures, for one round."""
        if "recovery" in self.opts.measures:
            for _ in range(self.opts.kills):
                await self.recovery(rnd, target)
        if "cluster" in self.opts.measures:
            for masters in CLUSTER_MASTERS[rnd % 2 :] + CLUSTER_MASTERS[: rnd % 2]:
                await self.cluster(rnd, masters, target)


def spread_shards(deployment: ClusterServers, shards: int) -> tuple[str, list[int]]:
    """A fresh queue name whose shards the masters serve evenly (within one shard).

    Returns:
        The name, and how many shards each master serves.
    """
    masters = deployment.masters
    for attempt in range(10_000):
        name = f"bench:sharded:{attempt}"
        placement = [0] * len(masters)
        for i in range(shards):  # the shard's keys are {name:i}...
            placement[masters.index(deployment.master_of(f"{{{name}:{i}}}"))] += 1
        if max(placement) - min(placement) <= 1:
            return name, placement
    msg = f"no name spreads {shards} shards over {len(masters)} masters"
    raise BenchmarkError(msg)


def spread(values: list[float], digits: int = 1) -> str:
    """Median (min–max), thousands separated."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:,.{digits}f} ({low:,.{digits}f}–{high:,.{digits}f})"


class Report:
    """The Markdown tables: medians over the rounds, min–max, ratios of medians."""

    def __init__(self, samples: list[dict[str, Any]], targets: list[str]) -> None:
        """Tabulate these samples, targets in this order."""
        self.samples, self.targets = samples, targets

    def values(self, measure: str, key: str, **where: object) -> list[Any]:
        """The values of key over the rounds, in the samples that match."""
        rows = [s for s in self.samples if s["measure"] == measure]
        return [s[key] for s in rows if all(s.get(k) == v for k, v in where.items())]

    def median(self, measure: str, key: str, **where: object) -> float:
        """The median over the rounds."""
        return float(statistics.median(self.values(measure, key, **where)))

    @staticmethod
    def ratio(mine: list[float], theirs: list[float]) -> str:
        """Ratio of medians, or a dash when one side was not measured."""
        if not mine or not theirs:
            return "–"
        return f"{statistics.median(mine) / statistics.median(theirs):.2f}x"

    def throughput(self) -> list[str]:
        """One row per configuration, structure and target."""
        lines = [
            (
                "| configuration | structure | target | items/s | × original | × baseline "
                "| × streams | Redis CPU µs/item | Redis calls/item | client CPU µs/item "
                "| client CPU × aiopyrq |"
            ),
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        rows = itertools.product(CONFIGS, STRUCTURES, self.targets)
        for config, structure, target in rows:
            where = {"config": config, "structure": structure, "target": target}
            speed = self.values("throughput", "items_per_s", **where)
            if not speed:
                continue
            original = self.values("throughput", "items_per_s", **where | {"target": "original"})
            baseline = self.values("throughput", "items_per_s", **where | {"target": "baseline"})
            streams = self.values("throughput", "items_per_s", config=config, target="streams")
            cpu = self.values("throughput", "client_cpu_us", **where)
            ours = self.values("throughput", "client_cpu_us", **where | {"target": "aiopyrq"})
            lines.append(
                f"| {config} | {structure} | {target} | {spread(speed, 0)} "
                f"| {self.ratio(speed, original)} | {self.ratio(speed, baseline)} "
                f"| {self.ratio(speed, streams)} "
                f"| {self.median('throughput', 'redis_cpu_us', **where):.1f} "
                f"| {self.median('throughput', 'calls', **where):.2f} "
                f"| {self.median('throughput', 'client_cpu_us', **where):.1f} "
                f"| {self.ratio(cpu, ours) if target != 'aiopyrq' else '–'} |"
            )
        return lines

    def runtime(self) -> list[str]:
        """One row per case and target: the Consumer as a share of the raw loop's speed."""
        lines = [
            (
                "| workload | target | items/s | × raw loop | × baseline | Redis CPU µs/item "
                "| Redis calls/item | client CPU µs/item |"
            ),
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        raw = next(iter(RUNTIME))
        for case, target in itertools.product(RUNTIME, self.targets):
            where = {"case": case, "target": target}
            speed = self.values("runtime", "items_per_s", **where)
            if not speed:
                continue
            loop = self.values("runtime", "items_per_s", case=raw, target=target)
            baseline = self.values("runtime", "items_per_s", **where | {"target": "baseline"})
            lines.append(
                f"| {case} | {target} | {spread(speed, 0)} | {self.ratio(speed, loop)} "
                f"| {self.ratio(speed, baseline)} "
                f"| {self.median('runtime', 'redis_cpu_us', **where):.1f} "
                f"| {self.median('runtime', 'calls', **where):.2f} "
                f"| {self.median('runtime', 'client_cpu_us', **where):.1f} |"
            )
        return lines

    def idle(self) -> list[str]:
        """Latency and memory: one row per structure and target."""
        lines = [
            (
                "| structure | target | get | p50 ms | p99 ms | Redis calls/item "
                "| idle calls/s | bytes/item | × original |"
            ),
            "|---|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for structure, target in itertools.product(STRUCTURES, self.targets):
            modes = self.values("latency", "mode", structure=structure, target=target)
            for mode in dict.fromkeys(modes):  # the library's own get, then its Consumer
                where = {"structure": structure, "target": target, "mode": mode}
                lines.append(
                    f"| {structure} | {target} | {mode} "
                    f"| {self.median('latency', 'p50_ms', **where):.2f} "
                    f"| {spread(self.values('latency', 'p99_ms', **where), 2)} "
                    f"| {self.median('latency', 'calls', **where):.2f} "
                    f"| {self.median('latency', 'idle_calls_per_s', **where):.1f} "
                    f"| {self.memory(structure, target) if mode != 'Consumer' else '– | –'} |"
                )
        return lines

    def memory(self, structure: str, target: str) -> str:
        """The bytes/item and × original cells."""
        memory = self.values("memory", "bytes_per_item", structure=structure, target=target)
        if not memory:
            return "– | –"
        original = self.values("memory", "bytes_per_item", structure=structure, target="original")
        return f"{statistics.median(memory):.1f} | {self.ratio(memory, original)}"

    def delays(self) -> list[str]:
        """One row per structure and target: how late a Consumer's handler sees a delayed item."""
        lines = [
            (
                "| structure | target | delay s | runs × items | due → handler p50 ms | p99 ms "
                "| max ms | earliest ms |"
            ),
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for structure, target in itertools.product(DELAYED, OURS):
            where = {"structure": structure, "target": target}
            if not (p50 := self.values("delay", "p50_ms", **where)):
                continue
            first = next(s for s in self.samples if s["measure"] == "delay")
            lines.append(
                f"| {structure} | {target} | {first['delay_s']:g} | {len(p50)} × {first['items']} "
                f"| {statistics.median(p50):.2f} "
                f"| {spread(self.values('delay', 'p99_ms', **where), 2)} "
                f"| {max(self.values('delay', 'max_ms', **where)):.2f} "
                f"| {min(self.values('delay', 'min_ms', **where)):.2f} |"
            )
        return lines

    def recovery(self) -> list[str]:
        """One row: the time from the SIGKILL to the items back, over every kill."""
        back = self.values("recovery", "back_s")
        if not back:
            return []
        handled = self.values("recovery", "handled_s")
        first = next(s for s in self.samples if s["measure"] == "recovery")
        return [
            (
                "| Consumer settings | kills | items held | back in the queue: median s | max s "
                "| handled by the survivor: median s | max s | bound s |"
            ),
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            (
                f"| lease_timeout={first['lease_timeout']}, "
                f"sweep_interval={first['sweep_interval']:g} | {len(back)} | {first['items']} "
                f"| {statistics.median(back):.2f} | {max(back):.2f} "
                f"| {statistics.median(handled):.2f} | {max(handled):.2f} "
                f"| {first['bound_s']:g} |"
            ),
        ]

    def cluster(self) -> list[str]:
        """One row per number of masters: the Redis CPU per item, in all and per master."""
        lines = [
            (
                "| masters | shards per master | items/s | Redis CPU µs/item, all masters "
                "| busiest master µs/item | × 1 master | share per master "
                "| Redis calls/item | busiest master's limit, items/s |"
            ),
            "|---:|---|---:|---:|---:|---:|---|---:|---:|",
        ]
        one = self.values("cluster", "busiest_cpu_us", masters=1)
        for masters in CLUSTER_MASTERS:
            busiest = self.values("cluster", "busiest_cpu_us", masters=masters)
            if not busiest:
                continue
            shares = self.values("cluster", "shares", masters=masters)
            share = " · ".join(
                f"{statistics.median(s[i] for s in shares):.0%}" for i in range(masters)
            )
            placement = self.values("cluster", "shards_per_master", masters=masters)[0]
            lines.append(
                f"| {masters} | {' · '.join(map(str, placement))} "
                f"| {spread(self.values('cluster', 'items_per_s', masters=masters), 0)} "
                f"| {self.median('cluster', 'redis_cpu_us', masters=masters):.2f} "
                f"| {spread(busiest, 2)} | {self.ratio(busiest, one)} | {share} "
                f"| {self.median('cluster', 'calls', masters=masters):.2f} "
                f"| {1e6 / statistics.median(busiest):,.0f} |"
            )
        return lines

    def markdown(self, header: str) -> str:
        """The header, then the tables of the measures that ran."""
        sections = {
            "Throughput (batches of 100; one at a time: get 1, ack 1)": self.throughput(),
            "Idle consumer: delivery latency; memory per waiting item": self.idle(),
            "The Consumer runtime vs the raw loop (no-op handler, one process)": self.runtime(),
            "Delayed items: due time to the Consumer's handler (wait=1)": self.delays(),
            "Recovery of a SIGKILLed Consumer's batch": self.recovery(),
            "ShardedQueue on a Redis Cluster: Redis CPU per master": self.cluster(),
        }
        lines = [header]
        for title, table in sections.items():
            if table[2:]:  # rows under the header
                lines += ["", f"### {title}", "", *table]
        return "\n".join(lines) + "\n"


def machine(server: Server, versions: dict[str, str]) -> dict[str, str]:
    """What the results were measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [
        line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line
    ]
    return {
        "cpu": f"{os.cpu_count()} x {models[0] if models else platform.processor()}",
        "os": platform.platform(),
        "server": f"{server.version} ({server.binary})",
        "python": platform.python_version(),
        "load average (1, 5, 15 min) at the end": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        **{f"redis-py ({name})": version for name, version in versions.items()},
    }


def parse() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1 round of small workloads")
    parser.add_argument("--items", type=int, default=50_000, help="per batch workload")
    parser.add_argument("--single-items", type=int, default=5_000, help="one at a time")
    parser.add_argument("--latency-items", type=int, default=500)
    parser.add_argument("--delay", type=float, default=0.5, help="delay: seconds per item")
    parser.add_argument("--memory-items", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=4, help="consumer tasks per process")
    parser.add_argument("--poll-interval", type=float, default=0.01, help="latency, poll mode")
    parser.add_argument("--idle", type=float, default=1.0, help="latency: idle seconds counted")
    parser.add_argument("--targets", default="aiopyrq,sync,original,streams")
    parser.add_argument(
        "--baseline", metavar="REF", help="also measure this library at a git commit (a target)"
    )
    parser.add_argument("--measures", default=",".join(MEASURES), help="any of the default")
    parser.add_argument("--kills", type=int, default=2, help="recovery: kills per round")
    parser.add_argument("--recovery-items", type=int, default=100, help="the killed batch")
    parser.add_argument("--lease-timeout", type=int, default=1, help="recovery: seconds")
    parser.add_argument("--sweep-interval", type=float, default=1.0, help="recovery: seconds")
    parser.add_argument("--cluster-items", type=int, default=50_000)
    parser.add_argument("--shards", type=int, default=3, help="cluster: ShardedQueue shards")
    opts = parser.parse_args()
    opts.measures = opts.measures.split(",")
    if unknown := set(opts.measures) - set(MEASURES):
        parser.error(f"unknown measures: {', '.join(sorted(unknown))}")
    if opts.quick:
        opts.rounds, opts.items, opts.single_items = 1, 1_000, 100
        opts.latency_items, opts.memory_items, opts.idle = 20, 2_000, 0.2
        opts.kills, opts.recovery_items, opts.cluster_items = 1, 20, 1_000
    return opts


def main() -> None:
    """Run everything, write the results, print the table."""
    opts, started = parse(), time.monotonic()
    wanted = opts.targets.split(",")
    targets = [
        Target("aiopyrq", sys.executable, "lib"),
        Target("sync", sys.executable, "sync"),  # aiopyrq.sync, in threads: throughput only
        *([Target("original", original_python(), "lib")] if "original" in wanted else []),
        *([Target("baseline", baseline_python(opts.baseline), "lib")] if opts.baseline else []),
        Target("streams", sys.executable, "streams"),
    ]
    targets = [t for t in targets if t.name in wanted or t.name == "baseline"]
    with RedisServer() as redis_server:
        server = Server(redis_server)
        bench = Bench(server, opts)
        try:
            asyncio.run(bench.run(targets))
        except BenchmarkError as error:
            sys.exit(f"benchmark FAILED: {error}")
        about = machine(server, bench.versions)
    minutes = (time.monotonic() - started) / 60
    header = "\n".join([
        (
            f"Measured {time.strftime('%Y-%m-%d')}: {opts.rounds} rounds in {minutes:.1f} min; "
            f"{opts.items:,} items per workload ({opts.single_items:,} one at a time), "
            f"{opts.tasks} consumer tasks per process; latency {opts.latency_items} items, "
            f"memory {opts.memory_items:,} items. Consumer latency: wait=1, other options "
            f"default; recovery: {opts.kills} kills per round of a Consumer holding "
            f"{opts.recovery_items} items; cluster: {opts.cluster_items:,} items through a "
            f"ShardedQueue of {opts.shards} shards."
        ),
        "",
        *[f"- {key}: {value}" for key, value in about.items()],
    ])  # fmt: skip
    table = Report(bench.samples, [t.name for t in targets]).markdown(header)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stem = "quick" if opts.quick else "latest" if opts.measures == list(MEASURES) else "partial"
    settings = {k: v for k, v in vars(opts).items() if k != "targets"} | {"targets": wanted}
    result = {"machine": about, "settings": settings, "samples": bench.samples}
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"{stem}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
