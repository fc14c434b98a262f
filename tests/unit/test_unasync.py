"""The sync twin is what ci/unasync.py makes of the asyncio source, and nothing else."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("unasync", ROOT / "ci" / "unasync.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("unasync", module)
    spec.loader.exec_module(module)
    return module


unasync = _generator()


def test_committed_twin_is_fresh():
    """Every generated file is what the asyncio source gives now (else: make unasync)."""
    assert unasync.stale() == [], "the sync twin is stale: run make unasync"


def test_a_stale_file_is_found(tmp_path):
    """A generated file edited by hand, or missing, is reported stale."""
    for source, target in unasync.GENERATED.items():
        for path in (source, target):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text((ROOT / path).read_text(encoding="utf-8"))
    assert unasync.stale(tmp_path) == []
    edited = tmp_path / "src/aiopyrq/sync/_queue.py"
    edited.write_text(edited.read_text() + "# edited by hand\n")
    (tmp_path / "tests/sync_helpers.py").unlink()
    assert unasync.stale(tmp_path) == ["src/aiopyrq/sync/_queue.py", "tests/sync_helpers.py"]


def test_rewrites_token_by_token():
    """async/await, redis.asyncio, aclose, asyncio.sleep and twinned imports are rewritten."""
    source = (
        "import asyncio\n"
        "from redis.asyncio import Redis\n"
        "from aiopyrq._queue import Queue\n"
        "from aiopyrq import Pool\n\n\n"
        "async def f(client: Redis) -> None:\n"
        "    async with client:\n"
        "        await asyncio.sleep(1)\n"
        "        await client.aclose()\n"
        "    x = 1  # unasync: x = 2\n"
    )
    assert unasync.unasync(source) == (
        "import time\n"
        "from redis import Redis\n"
        "from aiopyrq.sync._queue import Queue\n"
        "from aiopyrq.sync import Pool\n\n\n"
        "def f(client: Redis) -> None:\n"
        "    with client:\n"
        "        time.sleep(1)\n"
        "        client.close()\n"
        "    x = 2\n"
    )


def test_refuses_what_has_no_sync_twin():
    """Code that would still use asyncio in the twin fails the generator, naming the line."""
    with pytest.raises(unasync.UnasyncError, match=r"line 2 .*asyncio\.gather"):
        unasync.unasync("import asyncio\n\nasyncio.gather()\n")
