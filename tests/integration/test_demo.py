"""`examples/demo.py` against the suite's server: a consumer killed, nothing lost or doubled."""

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


def line(label: str, output: str) -> str:
    """The value of the summary line ``label``."""
    found = re.search(rf"^{label}\s+(.*)$", output, re.MULTILINE)
    assert found is not None, output
    return found.group(1)


def test_demo_accounts_for_every_item(redis_server):
    """The survivors' reapers recover the killed batch; none lost, each acked once, no key left."""
    env = {**os.environ, "REDIS_URL": redis_server.url}
    result = run_demo("--items", "2000", "--work-ms", "0.5", env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output

    assert f"server: {redis_server.url}, from REDIS_URL" in result.stdout
    name = re.search(r"^queue: (aiopyrq-demo-[0-9a-f]{8}),", result.stdout, re.MULTILINE)
    assert name is not None, output
    assert re.search(r"killed with SIGKILL, holding 100 items, 50 of them handled", output)
    assert "a survivor's reaper recovered the killed consumer's items" in result.stdout
    assert re.search(r"^progress\s+\d+/2000 handled", result.stdout, re.MULTILINE), output
    recovery = r"^consumer-\d: recovered 100 items of dead consumers"
    assert re.search(recovery, result.stderr, re.MULTILINE), output
    assert line("recovered", output).startswith("100 by the survivors' reapers")
    assert line("acked", output) == "2000, each item once"
    assert line("handled", output) == "2000 distinct items, 2050 handler runs"
    assert line("twice", output) == "50, all handled by consumer-0 before the kill: True"
    assert line("lost", output) == "0"
    library = line("library", output)
    assert re.match(r"\d+\.\d+ s in gets and acks, summed over 3 consumers", library)
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
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "holding 7 items, 3 of them handled" in result.stdout
    assert line("handled", output) == "30 distinct items, 33 handler runs"
    assert line("lost", output) == "0"


def test_demo_never_prints_the_password_of_redis_url():
    """A REDIS_URL that does not answer is reported with its password masked."""
    env = {**os.environ, "REDIS_URL": "redis://alice:hunter2@127.0.0.1:1/0"}
    result = run_demo("--items", "200", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "redis://alice:***@127.0.0.1:1/0" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr


def test_demo_without_a_server_says_so_in_one_line(tmp_path):
    """No server to be had: one line on stderr saying what to do, exit code 3, no traceback."""
    missing = tmp_path / "no-such-server"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["AIOPYRQ_SERVER_BIN"] = str(missing)
    result = run_demo("--items", "10", env=env)
    assert result.returncode == 3, result.stdout + result.stderr
    told = f"demo: AIOPYRQ_SERVER_BIN={str(missing)!r} is not an executable file"
    assert result.stderr.splitlines() == [told]
