"""Write the synchronous twin, ``aiopyrq.sync``, from the asyncio source.

Usage: ``python ci/unasync.py`` (``make unasync``) writes the files; ``--check`` only says
which are stale, and fails if any is (``tests/unit/test_unasync.py`` does the same).

Each operation is written once, in the asyncio modules. This script rewrites them, and the
behaviour tests and their helpers, token by token into the files of ``GENERATED``:
``async def`` becomes ``def``, ``await x`` becomes ``x``, ``redis.asyncio`` becomes
``redis``, ``aclose`` ``close``, ``asyncio.sleep`` ``time.sleep``, and imports of the
modules that differ between the twins (``_base``, ``_queue``, ... ``_tasks``, ``_turns``,
``_transport``) name ``aiopyrq.sync``'s. Where the two truly differ, ``aiopyrq.sync`` keeps
small modules of its own, written by hand: ``_tasks`` (threads for asyncio tasks),
``_turns`` (a lock for asyncio's turns), ``_transport/_plain`` and ``_transport/_choice``
(redis-py's sync client), ``_consumer`` (worker threads).

A line that must read otherwise in the twin ends in ``# unasync: <the twin's line>``; a
top-level definition that has no twin (asyncio subprocesses) is listed in ``LEFT_OUT``. A
file whose twin would still say ``async``, ``await`` or ``asyncio`` is refused: the script
fails rather than write a twin that does not run.

A method added to a structure reaches both twins by ``make unasync``; a test fails while
the committed twin is stale (``tests/unit/test_unasync.py``), and another while a public
method exists in one twin and not the other (``tests/unit/test_sync_parity.py``).
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GENERATED = {
    "src/aiopyrq/_base.py": "src/aiopyrq/sync/_base.py",
    "src/aiopyrq/_queue.py": "src/aiopyrq/sync/_queue.py",
    "src/aiopyrq/_unique_queue.py": "src/aiopyrq/sync/_unique_queue.py",
    "src/aiopyrq/_pool.py": "src/aiopyrq/sync/_pool.py",
    "src/aiopyrq/_sharded.py": "src/aiopyrq/sync/_sharded.py",
    "src/aiopyrq/_transport/_runner.py": "src/aiopyrq/sync/_transport/_runner.py",
    "src/aiopyrq/_types.py": "src/aiopyrq/sync/_types.py",
    "tests/helpers.py": "tests/sync_helpers.py",
    "tests/integration/test_queue.py": "tests/integration/sync/test_sync_queue.py",
    "tests/integration/test_unique_queue.py": "tests/integration/sync/test_sync_unique_queue.py",
    "tests/integration/test_pool.py": "tests/integration/sync/test_sync_pool.py",
    "tests/integration/test_priorities.py": "tests/integration/sync/test_sync_priorities.py",
}
"""Each asyncio file and the file of its sync twin."""

LEFT_OUT = {
    "src/aiopyrq/_types.py": {
        "_MAKERS": "the command line makes asyncio structures only",
        "register": "the command line makes asyncio structures only",
        "structure_of": "the command line makes asyncio structures only",
    },
    "tests/integration/test_priorities.py": {
        "test_waiting_get_wakes_for_a_prioritised_item": "an asyncio task; the sync twin's is "
        "in tests/integration/sync/test_sync_wake.py",
    },
    "tests/helpers.py": {
        "Fleet": "asyncio subprocesses; the sync tests use the asyncio one",
        "until": "polls a sync or an async condition; the sync tests poll in their own way",
        "start_consumer": "an asyncio subprocess, for the asyncio failure tests",
        "held_by_all": "beside start_consumer, for the asyncio failure tests",
    },
}
"""Top-level definitions with no sync twin, by file, each with the reason."""

TWINNED = ("_base", "_queue", "_unique_queue", "_pool", "_sharded", "_tasks", "_turns", "_types")
"""The modules of ``aiopyrq`` whose sync twin is ``aiopyrq.sync``'s (and ``_transport``)."""

_RULES: list[tuple[str, str]] = [
    (r"^from aiopyrq\._types import register\n", ""),
    (r"^register\(.*\)\n", ""),
    (
        r"\bfrom aiopyrq import _scripts, _transport\b",
        "from aiopyrq import _scripts\nfrom aiopyrq.sync import _transport",
    ),
    (rf"\bfrom aiopyrq import ({'|'.join(TWINNED)}|_transport)\b", r"from aiopyrq.sync import \1"),
    (rf"\baiopyrq\.({'|'.join(TWINNED)}|_transport)\b", r"aiopyrq.sync.\1"),
    (r"\bfrom aiopyrq import (?=[A-Z(])", "from aiopyrq.sync import "),
    (r"\btests\.helpers\b", "tests.sync_helpers"),
    (r"\bredis\.asyncio\b", "redis"),
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\baclose\b", "close"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bAsyncGenerator\b", "Generator"),
    (r"\basynccontextmanager\b", "contextmanager"),
    (r"\bAwaitable\[((?:[^\[\]]|\[[^\[\]]*\])*)\]", r"\1"),
    (r"\bAwaitable, ", ""),
    (r"\basyncio\.sleep\b", "time.sleep"),
]
_RULES_COMPILED = [(re.compile(pattern, re.MULTILINE), new) for pattern, new in _RULES]
_TIDY = "I001,F401,F811,TC005"  # import order, and imports the twin no longer uses
_PRAGMA = re.compile(r"^(?P<indent>\s*)(?P<code>.*?)\s*# unasync: (?P<twin>.*)$", re.MULTILINE)


class UnasyncError(Exception):
    """A file whose sync twin would not run as written."""


def _names(node: ast.stmt) -> set[str]:
    """The names a top-level statement defines (a function, a class, an assignment)."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    if isinstance(node, ast.Assign):
        return {target.id for target in node.targets if isinstance(target, ast.Name)}
    return set()


def _leave_out(text: str, names: dict[str, str]) -> str:
    """The text without the top-level definitions named (decorators and all)."""
    lines = text.splitlines(keepends=True)
    body = ast.parse(text).body
    missing = set(names) - {name for node in body for name in _names(node)}
    if missing:
        msg = f"LEFT_OUT names what the file does not define: {sorted(missing)}"
        raise UnasyncError(msg)
    spans = []
    for node in body:
        if _names(node) & set(names):
            decorators = getattr(node, "decorator_list", [])
            first = min([node.lineno] + [d.lineno for d in decorators])
            spans.append((first - 1, node.end_lineno or node.lineno))
    for first, end in sorted(spans, reverse=True):
        start = first
        while start > 0 and not lines[start - 1].strip():
            start -= 1  # the blank lines before it go too
        del lines[start:end]
    return "".join(lines)


def _imports_time(text: str) -> bool:
    return re.search(r"^import time$", text, re.MULTILINE) is not None


def unasync(text: str, source: str = "<text>") -> str:
    """The sync twin of an asyncio module's text.

    Raises:
        UnasyncError: The twin would still use asyncio, or is not valid Python.
    """
    if source in LEFT_OUT:
        text = _leave_out(text, LEFT_OUT[source])
    twins: list[str] = []  # the lines given as they must read: the rules leave them alone

    def keep(match: re.Match[str]) -> str:
        twins.append(match["indent"] + match["twin"])
        return f"UNASYNC_PRAGMA_{len(twins) - 1}"

    text = _PRAGMA.sub(keep, text)
    for pattern, new in _RULES_COMPILED:
        text = pattern.sub(new, text)
    text = re.sub(r"UNASYNC_PRAGMA_(\d+)", lambda m: twins[int(m[1])], text)
    needs_time = "time.sleep" in text and not _imports_time(text)
    text = re.sub(
        r"^import asyncio\n", "import time\n" if needs_time else "", text, flags=re.MULTILINE
    )
    _check(text, source)
    return text


def _check(text: str, source: str) -> None:
    """Refuse a twin that still says async, await or asyncio in its code."""
    try:
        ast.parse(text)
    except SyntaxError as error:
        msg = f"{source}: the sync twin is not valid Python: {error}"
        raise UnasyncError(msg) from error
    before: list[str] = ["", ""]
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        other_twin = before == ["redis", "."]  # redis.asyncio: the other twin's client
        before = [before[1], token.string]
        if token.type == tokenize.NAME and token.string in {"async", "await", "asyncio"}:
            if other_twin:
                continue
            msg = (
                f"{source}: line {token.start[0]} of the sync twin still says {token.string!r}: "
                f"{token.line.strip()!r} (give the line a '# unasync: ...' twin, or list the "
                "definition in LEFT_OUT)"
            )
            raise UnasyncError(msg)


def header(source: str) -> str:
    """The first line of a generated file."""
    return f"# Generated from {source} by `make unasync`: do not edit.\n"


def tidy(text: str, target: str) -> str:
    """The text with its imports sorted and those left unused removed (by ruff).

    Raises:
        UnasyncError: ruff is not installed beside this Python, or failed.
    """
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        msg = "ruff is needed to tidy the generated imports (make .venv/.installed)"
        raise UnasyncError(msg)
    done = subprocess.run(
        [
            ruff,
            "check",
            "--fix",
            "--exit-zero",
            "--quiet",
            "--select",
            _TIDY,
            "--stdin-filename",
            target,
            "-",
        ],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=60,
    )
    if done.returncode != 0:
        msg = f"ruff failed on {target}: {done.stderr.strip()}"
        raise UnasyncError(msg)
    return done.stdout


def generate(root: Path = ROOT) -> dict[str, str]:
    """Every generated file's path (relative to root) and the text it must have."""
    out = {}
    for source, target in GENERATED.items():
        text = (root / source).read_text(encoding="utf-8")
        out[target] = tidy(header(source) + unasync(text, source), target)
    return out


def stale(root: Path = ROOT) -> list[str]:
    """The generated files whose committed text is not what the source gives now."""
    found = []
    for target, text in generate(root).items():
        path = root / target
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            found.append(target)
    return found


def main(argv: list[str] | None = None) -> int:
    """Write the sync twin (or, with --check, list the stale files)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file is stale")
    args = parser.parse_args(argv)
    if args.check:
        found = stale()
        for target in found:
            print(f"stale: {target} (run make unasync)")
        return 1 if found else 0
    for target, text in generate().items():
        path = ROOT / target
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
