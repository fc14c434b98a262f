"""The server's instructions per item, counted by Valgrind's callgrind, at several commits.

Redis CPU per item (``run.py``) moves by 10 to 30 % from round to round on a shared machine;
the instructions the server runs do not. For each commit and each case (Queue, UniqueQueue,
Pool; batches of 100 or one at a time), a throwaway ``redis-server`` runs under callgrind, a
single client adds the items 100 at a time and gets and acks them, and the instructions of
the measured part (scripts already loaded) are divided by the items. User space only: the
kernel's part of a call (the network) is not counted, so a ratio here is that of the work
Redis itself does. Needs ``valgrind`` and ``callgrind_control``.

    .venv/bin/python benchmarks/instructions.py main HEAD     # the first is the reference
    .venv/bin/python benchmarks/instructions.py main . --structures queue --per 1
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ITEMS = {1: 600, 100: 6000}  # items measured per case: items per get and ack -> items
WARM = 200  # items run first, unmeasured: the scripts are loaded, the keys made


def tree(ref: str) -> Path:
    """The ``src`` of the library at git ``ref`` (``.``: the working tree)."""
    if ref == ".":
        return ROOT / "src"
    git = shutil.which("git") or "git"
    command = [git, "rev-parse", "--verify", f"{ref}^{{commit}}"]
    sha = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    target = HERE / ".instructions" / sha.strip()
    if not (target / "src").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            [git, "archive", sha.strip(), "src"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    return target / "src"


def loop(port: int, structure: str, per: int, items: int) -> None:
    """One client: add items 100 at a time, get and ack them ``per`` at a time."""
    import redis  # noqa: PLC0415 - in the subprocess, with the tree under test first

    import aiopyrq.sync as rq  # noqa: PLC0415

    client = redis.Redis(port=port)
    client.ping()
    classes = {"queue": rq.Queue, "unique": rq.UniqueQueue, "pool": rq.Pool}
    options = {"ack_valid_for": 86400} if structure == "pool" else {}
    name = f"instructions-{structure}-{per}-{os.getpid()}"
    obj = classes[structure](name, client, **options)
    ids = [f"{name}-{i}" for i in range(items)]
    for start in range(0, items, 100):
        obj.add_items(ids[start : start + 100])
        for _ in range(0, 100, per):
            obj.ack_items(obj.get_items(per))


def free_port() -> int:
    """A TCP port free on the loopback now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(src: Path, structure: str, per: int, server: str) -> float:
    """Instructions per item of one case, on a fresh server under callgrind."""
    with tempfile.TemporaryDirectory(prefix="instructions-") as work:
        port = free_port()
        valgrind = shutil.which("valgrind") or "valgrind"
        command = [
            valgrind, "--tool=callgrind", f"--callgrind-out-file={work}/out.%p", server,
            "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", work,
        ]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run = [sys.executable, __file__, "--loop", str(port), structure, str(per)]
            env = os.environ | {"PYTHONPATH": str(src)}
            for _ in range(600):  # the server starts slowly under Valgrind
                probe = subprocess.run([*run, "0"], env=env, capture_output=True, check=False)
                if probe.returncode == 0:
                    break
                time.sleep(0.1)
            subprocess.run([*run, str(WARM)], env=env, check=True)
            control = [shutil.which("callgrind_control") or "callgrind_control"]
            subprocess.run([*control, "--zero", str(process.pid)], check=True, capture_output=True)
            subprocess.run([*run, str(ITEMS[per])], env=env, check=True)
            subprocess.run([*control, "--dump", str(process.pid)], check=True, capture_output=True)
        finally:
            process.terminate()
            process.wait()
        for dump in Path(work).glob("out.*"):
            text = dump.read_text(errors="replace")
            if "Trigger: dump" in text[:4000]:
                found = re.search(r"^summary: (\d+)", text, re.MULTILINE)
                if found:
                    return int(found.group(1)) / ITEMS[per]
    msg = "no callgrind dump of the measured part"
    raise RuntimeError(msg)


def main() -> None:
    """Measure each case at each commit; print a table, the first commit the reference."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("refs", nargs="+", help="git commits to compare (. = working tree)")
    parser.add_argument("--structures", default="queue,unique,pool")
    parser.add_argument("--per", default="100,1", help="items per get and ack: 100, 1")
    args = parser.parse_args()
    server = os.environ.get("AIOPYRQ_SERVER_BIN") or shutil.which("redis-server")
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None or server is None:
            sys.exit(f"needs {tool} and redis-server on the PATH")
    assert server is not None  # noqa: S101 - for mypy: checked just above
    trees = {ref: tree(ref) for ref in args.refs}
    print("| structure | items per call | " + " | ".join(args.refs) + " |")
    print("|---|---:|" + "---:|" * len(args.refs))
    results = {}
    for structure in args.structures.split(","):
        for per in (int(p) for p in args.per.split(",")):
            counts = [measure(trees[ref], structure, per, server) for ref in args.refs]
            results[f"{structure} {per}"] = counts
            cells = [f"{counts[0] / 1000:.1f}k"]
            cells += [f"{count / 1000:.1f}k ({count / counts[0]:.3f}x)" for count in counts[1:]]
            print(f"| {structure} | {per} | " + " | ".join(cells) + " |", flush=True)
    print(json.dumps({"refs": args.refs, "instructions_per_item": results}), file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--loop"]:
        port, structure, per, items = sys.argv[2:6]
        loop(int(port), structure, int(per), int(items))
    else:
        main()
