"""`examples/demo.py` against the suite's server: a consumer killed, nothing lost."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import redis

pytestmark = [pytest.mark.redis, pytest.mark.slow]

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def run_demo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the demo to completion (at most 100 s) and return its output."""
    return subprocess.run(
        [sys.executable, DEMO, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


def test_demo_accounts_for_every_item(redis_server):
    """The demo on REDIS_URL recovers the killed consumer's items, loses none, leaves no key."""
    env = {**os.environ, "REDIS_URL": redis_server.url}
    result = run_demo("--items", "2000", env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output

    assert f"server: {redis_server.url}, from REDIS_URL" in result.stdout
    name = re.search(r"^queue: (aiopyrq-demo-[0-9a-f]{8}),", result.stdout, re.MULTILINE)
    assert name is not None, output
    held = re.search(r"^consumer-0 holds (\d+) items", result.stdout, re.MULTILINE)
    assert held is not None, output
    assert int(held.group(1)) == 100
    assert re.search(r"^items\s+2000 added", result.stdout, re.MULTILINE), output
    assert re.search(r"^recovered\s+100 of", result.stdout, re.MULTILINE), output
    assert re.search(r"^processed\s+2000 distinct items, 2050 in all$", result.stdout, re.MULTILINE)
    assert re.search(r"^lost\s+0$", result.stdout, re.MULTILINE), output
    assert "OK: every item is accounted for" in result.stdout

    with redis.Redis.from_url(redis_server.url) as client:
        assert list(client.scan_iter(match=f"{name.group(1)}*")) == []


def test_demo_options(redis_server):
    """The options size the run; fewer than two consumers is refused with exit code 2."""
    env = {**os.environ, "REDIS_URL": redis_server.url}
    refused = run_demo("--consumers", "1", env=env)
    assert refused.returncode == 2
    assert "--consumers at least 2" in refused.stderr

    result = run_demo("--items", "30", "--consumers", "2", "--batch", "7", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^consumer-0 holds 7 items", result.stdout, re.MULTILINE)
    assert re.search(r"^processed\s+30 distinct items, 34 in all$", result.stdout, re.MULTILINE)
    assert re.search(r"^lost\s+0$", result.stdout, re.MULTILINE)


def test_demo_never_prints_the_password_of_redis_url():
    """A REDIS_URL that does not answer is reported with its password masked."""
    env = {**os.environ, "REDIS_URL": "redis://alice:hunter2@127.0.0.1:1/0"}
    result = run_demo("--items", "200", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "redis://alice:***@127.0.0.1:1/0" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr
