"""Run the standalone behaviour suites on each redis-py, Python and transport CI proves.

Usage: ``python ci/matrix.py [--list] [--jobs N] [--only PYTHON/REDIS/TRANSPORT ...]``
(``make matrix``). With ``--jobs N``, N environments (a Python and a redis-py, each with its
two transports in turn) run side by side, each suite starting servers of its own on free
ports.

Each combination gets a virtual environment of its own under ``.matrix/`` (git-ignored,
kept between runs, made again when pyproject.toml changes), with the package installed
editable and the test extra, and runs the suites with ``AIOPYRQ_TRANSPORT`` set to its
transport, on the standalone server only (``-k 'not cluster and not sentinel'``).

Interpreters are looked for as ``pythonX.Y`` on ``PATH`` and under pyenv's versions
(``$PYENV_ROOT``, ``~/.pyenv``). The project cannot install a missing CPython itself:
Debian 12 ships 3.11 only, and pyenv or uv would fetch CPython from hosts outside the
package registries. A combination whose interpreter is missing is reported as NOT RUN,
loudly; the run fails if any combination fails, or if some redis-py version did not run
on both transports.

The redis-py versions here are the ones the fast path is proven on:
``aiopyrq._transport.PROVEN_REDIS_PY`` must list the same (a unit test holds the two).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".matrix"

REDIS_PY = ("5.0.8", "5.3.1", "6.4.0", "7.4.1", "8.1.0")
"""redis-py 5.0.x (5.0 and 5.1 differ in how a pool lends a connection), the newest 5.x,
6.x, 7.x and 8.x."""
BASELINE_PYTHON = "3.11"
OTHER_PYTHONS = ("3.10", "3.13")
TRANSPORTS = ("fast", "plain")
EXCLUDED: dict[tuple[str, str], str] = {}
"""(python, redis-py) pairs that cannot work, with the reason. None so far."""

SUITES = (
    "tests/integration/test_queue.py",
    "tests/integration/test_unique_queue.py",
    "tests/integration/test_pool.py",
    "tests/integration/test_sharded.py",
    "tests/integration/test_consumer.py",
    "tests/integration/test_blocking_get.py",
    "tests/integration/sync/test_sync_queue.py",  # the sync twin: redis-py's sync client
    "tests/integration/sync/test_sync_unique_queue.py",
    "tests/integration/sync/test_sync_pool.py",
    "tests/integration/sync/test_interop.py",
    "tests/integration/sync/test_threads.py",
    "tests/integration/sync/test_sync_consumer.py",
)
STANDALONE = "not cluster and not sentinel"
_PRINTING = threading.Lock()  # a failure's output, whole, with --jobs


@dataclass(frozen=True)
class Combination:
    """One Python, one redis-py, one transport."""

    python: str
    redis: str
    transport: str

    def __str__(self) -> str:
        """``3.11/5.0.8/fast``."""
        return f"{self.python}/{self.redis}/{self.transport}"


def combinations() -> list[Combination]:
    """Every redis-py on the baseline Python; the oldest and newest on the others.

    Not the full cross product, to keep CI's time: a break that depends on Python alone
    shows with either end of the redis-py range.
    """
    pairs = [(BASELINE_PYTHON, redis) for redis in REDIS_PY]
    pairs += [(python, redis) for python in OTHER_PYTHONS for redis in (REDIS_PY[0], REDIS_PY[-1])]
    return [
        Combination(python, redis, transport)
        for python, redis in pairs
        if (python, redis) not in EXCLUDED
        for transport in TRANSPORTS
    ]


def find_python(version: str) -> str | None:
    """The path of a CPython ``version`` (``3.10``) on this machine, or None."""
    candidates = [shutil.which(f"python{version}")]
    for root in (os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv")):
        if root:
            found = Path(root).glob(f"versions/{version}.*/bin/python{version}")
            candidates += sorted(str(path) for path in found)
    for candidate in candidates:
        if candidate and _reports(candidate, version):
            return candidate
    return None


def _reports(python: str, version: str) -> bool:
    """Whether the interpreter runs and is the version it claims."""
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return out == version


def venv(python: str, version: str, redis: str) -> Path:
    """A virtual environment with the package, its test extra and this redis-py.

    Raises:
        subprocess.CalledProcessError: The environment could not be made.
    """
    stamp = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    folder = CACHE / f"py{version}-redis{redis}"
    marker = folder / ".installed"
    if marker.is_file() and marker.read_text() == stamp:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(folder)], check=True)
    pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[test]", f"redis=={redis}"], check=True, cwd=ROOT)
    marker.write_text(stamp)
    return folder


def check_environment(folder: Path, combination: Combination) -> None:
    """Refuse to run if the environment is not the combination it should be.

    Raises:
        RuntimeError: The interpreter, redis-py or transport differs.
    """
    probe = (
        "import sys, redis, aiopyrq._transport as t; "
        "print('%d.%d' % sys.version_info[:2], redis.__version__, t.FORCED)"
    )
    env = {**os.environ, "AIOPYRQ_TRANSPORT": combination.transport}
    out = subprocess.run(
        [str(folder / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.split()
    expected = [combination.python, combination.redis, combination.transport]
    if out != expected:
        msg = f"{combination}: the environment has {out}, not {expected}"
        raise RuntimeError(msg)


def run(folder: Path, combination: Combination) -> tuple[bool, str]:
    """Run the suites in the combination's environment: passed, and pytest's last line."""
    env = {**os.environ, "AIOPYRQ_TRANSPORT": combination.transport}
    command = [str(folder / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += [*SUITES, "-k", STANDALONE]
    result = subprocess.run(command, check=False, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = result.stdout.strip().splitlines()
    last = lines[-1] if lines else result.stderr.strip()[-200:]
    ran = re.search(r"(\d+) passed", last)
    passed = result.returncode == 0 and ran is not None and int(ran.group(1)) > 0
    if not passed:
        with _PRINTING:
            print(f"matrix: {combination}:", result.stdout[-6000:], result.stderr[-3000:], sep="\n")
    return passed, last


def main(argv: list[str] | None = None) -> int:
    """Run the matrix; 0 if every combination that could run passed and each redis-py ran."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the combinations and stop")
    parser.add_argument("--only", nargs="*", default=[], help="PYTHON/REDIS/TRANSPORT to run")
    parser.add_argument(
        "--jobs", type=int, default=1, help="environments run side by side (each its servers)"
    )
    args = parser.parse_args(argv)
    chosen = [c for c in combinations() if not args.only or str(c) in args.only]
    for (python, redis), reason in EXCLUDED.items():
        print(f"matrix: excluded {python}/{redis}: {reason}")
    if args.list:
        print(*chosen, sep="\n")
        return 0
    pythons = {c.python: find_python(c.python) for c in chosen}
    groups: dict[tuple[str, str], list[Combination]] = {}  # one environment each
    for combination in chosen:
        groups.setdefault((combination.python, combination.redis), []).append(combination)

    def run_group(group: list[Combination]) -> dict[Combination, str]:
        return {c: run_one(c, pythons[c.python]) for c in group}

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = {c: r for done in pool.map(run_group, groups.values()) for c, r in done.items()}
    return report(chosen, results)


def run_one(combination: Combination, python: str | None) -> str:
    """Run one combination: ``passed``, ``FAILED`` or ``NOT RUN``, with what happened."""
    if python is None:
        return f"NOT RUN: no CPython {combination.python} on this machine"
    start = time.monotonic()
    try:
        folder = venv(python, combination.python, combination.redis)
        check_environment(folder, combination)
    except (subprocess.CalledProcessError, RuntimeError) as error:
        return f"FAILED: environment: {error}"
    passed, last = run(folder, combination)
    outcome = f"{'passed' if passed else 'FAILED'}: {last} ({time.monotonic() - start:.0f} s)"
    print(f"matrix: {combination}: {outcome}", flush=True)
    return outcome


def report(chosen: list[Combination], results: dict[Combination, str]) -> int:
    """Print the table and the verdict."""
    print("\nmatrix: python/redis-py/transport")
    for combination in chosen:
        print(f"  {combination!s:<18} {results[combination]}")
    ran = {(c.redis, c.transport) for c in chosen if results[c].startswith("passed")}
    wanted = {(c.redis, c.transport) for c in chosen}
    failed = [c for c in chosen if results[c].startswith("FAILED")]
    not_run = [c for c in chosen if results[c].startswith("NOT RUN")]
    if not_run:
        print(f"matrix: {len(not_run)} combination(s) NOT RUN: their Python is not installed")
    if wanted - ran - {(c.redis, c.transport) for c in failed}:
        print(f"matrix: FAILED: never ran: {sorted(wanted - ran)}")
        return 1
    passed = len(chosen) - len(failed) - len(not_run)
    print(f"matrix: {passed} passed, {len(failed)} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
