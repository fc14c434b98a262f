"""Benchmark this library against the original aio-py-rq 4.1.0 and raw Redis Streams.

``make bench`` (``BENCH_ARGS="--quick"`` for a smoke run). One throwaway server; every
workload runs in fresh subprocesses on fresh keys, targets interleaved over the rounds. Writes
``results/latest.json`` and ``results/latest.md`` and prints the table. See README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from aiopyrq.testing import RedisServer

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "workload.py"
ORIGINAL = "aio-py-rq==4.1.0"
TIMEOUT = 600.0  # seconds for one workload
STRUCTURES = ("queue", "unique", "pool")
CONFIGS = {  # name: (consumer processes, 0 = all in one process; items per get and ack)
    "1 process, 4 tasks": (0, 100),
    "2 consumer processes": (2, 100),
    "one at a time": (0, 1),
}


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
    venv = HERE / ".venv-original"
    requirements = [ORIGINAL]
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        requirements.append(f"hiredis=={importlib.metadata.version('hiredis')}")
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

    def key_bytes(self, prefix: str) -> int:
        """Exact memory of a workload's keys (MEMORY USAGE with every element sampled)."""
        keys = self.client.scan_iter(match=f"{prefix}*", count=1000)
        return sum(int(self.client.memory_usage(key, samples=0) or 0) for key in keys)

    def delete(self, prefix: str) -> None:
        """Delete a workload's keys."""
        for key in self.client.scan_iter(match=f"{prefix}*", count=1000):
            self.client.unlink(key)


async def run_processes(
    server: Server, target: Target, args: list[list[str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run workload processes; the first adds, the others are told ``done`` when it finished.

    Returns:
        Each process's JSON result, and the window: go time, Redis CPU and calls between go
        and the last result.
    """
    procs = [
        await asyncio.create_subprocess_exec(
            target.python, str(WORKLOAD), *a, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            limit=1 << 26,
        )
        for a in args
    ]  # fmt: skip
    try:
        for proc in procs:
            await expect(proc, "ready")
        before, t_go = server.counters(), time.time()
        for proc in procs:
            await say(proc, "go")
        results = [json.loads(await expect(procs[0]))]
        for proc in procs[1:]:
            await say(proc, "done")
        results += [json.loads(await expect(proc)) for proc in procs[1:]]
        after = server.counters()
        for proc in procs:
            if await asyncio.wait_for(proc.wait(), TIMEOUT):
                msg = f"{target.name}: {args} exited with {proc.returncode}"
                raise BenchmarkError(msg)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    deltas = {
        cmd: after[cmd] - before.get(cmd, 0) for cmd in after if after[cmd] != before.get(cmd)
    }
    cpu = deltas.pop("_cpu", 0.0)
    return results, {"t_go": t_go, "cpu_s": cpu, "calls": sum(deltas.values()), "commands": deltas}


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
            results, window = await run_processes(self.server, target, [a + common for a in args])
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

    async def latency(self, rnd: int, structure: str, target: Target) -> None:
        """One item every 5 ms to an idle consumer."""
        items = self.opts.latency_items
        args = ["latency", "--items", str(items), "--idle", str(self.opts.idle)]
        args += ["--poll-interval", str(self.opts.poll_interval)]
        results, window = await self.workload(target, structure, [args])
        result = results[0]
        check_ids(f"{target.name} {structure} latency", result["received"], items)
        self.add({
            "measure": "latency", "round": rnd, "structure": structure, "target": target.name,
            "mode": result["mode"], "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"],
            "calls": (window["calls"] - result["idle_calls"]) / items,
            "idle_calls_per_s": result["idle_calls"] / self.opts.idle,
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

    async def run(self, targets: list[Target]) -> None:
        """All measures, rounds outermost, the target order rotated each round."""
        for rnd in range(self.opts.rounds):
            order = targets[rnd % len(targets) :] + targets[: rnd % len(targets)]
            cases = [(t, s) for s in STRUCTURES for t in order if t.kind == "lib" or s == "queue"]
            for config in CONFIGS:
                for target, structure in cases:
                    await self.throughput(rnd, config, structure, target)
            for target, structure in cases:
                await self.latency(rnd, structure, target)
                await self.memory(rnd, structure, target)


def spread(values: list[float], digits: int = 1) -> str:
    """Median (min–max), thousands separated."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:,.{digits}f} ({low:,.{digits}f}–{high:,.{digits}f})"


class Report:
    """The Markdown tables: medians over the rounds, min–max, ratios of medians."""

    def __init__(self, samples: list[dict[str, Any]], targets: list[str]) -> None:
        """Tabulate these samples, targets in this order."""
        self.samples, self.targets = samples, targets

    def values(self, measure: str, key: str, **where: str) -> list[Any]:
        """The values of key over the rounds, in the samples that match."""
        rows = [s for s in self.samples if s["measure"] == measure]
        return [s[key] for s in rows if all(s.get(k) == v for k, v in where.items())]

    def median(self, measure: str, key: str, **where: str) -> float:
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
                "| configuration | structure | target | items/s | × original | × streams "
                "| Redis CPU µs/item | Redis calls/item | client CPU µs/item |"
            ),
            "|---|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        rows = itertools.product(CONFIGS, STRUCTURES, self.targets)
        for config, structure, target in rows:
            where = {"config": config, "structure": structure, "target": target}
            speed = self.values("throughput", "items_per_s", **where)
            if not speed:
                continue
            original = self.values("throughput", "items_per_s", **where | {"target": "original"})
            streams = self.values("throughput", "items_per_s", config=config, target="streams")
            lines.append(
                f"| {config} | {structure} | {target} | {spread(speed, 0)} "
                f"| {self.ratio(speed, original)} | {self.ratio(speed, streams)} "
                f"| {self.median('throughput', 'redis_cpu_us', **where):.1f} "
                f"| {self.median('throughput', 'calls', **where):.2f} "
                f"| {self.median('throughput', 'client_cpu_us', **where):.1f} |"
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
            where = {"structure": structure, "target": target}
            p99 = self.values("latency", "p99_ms", **where)
            if not p99:
                continue
            memory = self.values("memory", "bytes_per_item", **where)
            original = self.values("memory", "bytes_per_item", **where | {"target": "original"})
            lines.append(
                f"| {structure} | {target} | {self.values('latency', 'mode', **where)[0]} "
                f"| {self.median('latency', 'p50_ms', **where):.2f} | {spread(p99, 2)} "
                f"| {self.median('latency', 'calls', **where):.2f} "
                f"| {self.median('latency', 'idle_calls_per_s', **where):.1f} "
                f"| {statistics.median(memory):.1f} | {self.ratio(memory, original)} |"
            )
        return lines

    def markdown(self, header: str) -> str:
        """The header, then both tables."""
        lines = [header, "", "### Throughput (batches of 100; one at a time: get 1, ack 1)", ""]
        lines += self.throughput()
        lines += ["", "### Idle consumer: delivery latency; memory per waiting item", ""]
        return "\n".join(lines + self.idle()) + "\n"


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
    parser.add_argument("--memory-items", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=4, help="consumer tasks per process")
    parser.add_argument("--poll-interval", type=float, default=0.01, help="latency, poll mode")
    parser.add_argument("--idle", type=float, default=1.0, help="latency: idle seconds counted")
    parser.add_argument("--targets", default="aiopyrq,original,streams")
    opts = parser.parse_args()
    if opts.quick:
        opts.rounds, opts.items, opts.single_items = 1, 1_000, 100
        opts.latency_items, opts.memory_items, opts.idle = 20, 2_000, 0.2
    return opts


def main() -> None:
    """Run everything, write the results, print the table."""
    opts, started = parse(), time.monotonic()
    wanted = opts.targets.split(",")
    targets = [
        Target("aiopyrq", sys.executable, "lib"),
        *([Target("original", original_python(), "lib")] if "original" in wanted else []),
        Target("streams", sys.executable, "streams"),
    ]
    targets = [t for t in targets if t.name in wanted]
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
            f"memory {opts.memory_items:,} items."
        ),
        "",
        *[f"- {key}: {value}" for key, value in about.items()],
    ])  # fmt: skip
    table = Report(bench.samples, [t.name for t in targets]).markdown(header)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stem = "quick" if opts.quick else "latest"
    settings = {k: v for k, v in vars(opts).items() if k != "targets"} | {"targets": wanted}
    result = {"machine": about, "settings": settings, "samples": bench.samples}
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"{stem}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
