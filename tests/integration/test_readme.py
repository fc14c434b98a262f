"""The README's examples run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.redis

README = Path(__file__).parents[2] / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_readme_has_examples():
    """The README shows an example of each structure, the consumer runtime, delays, replicas."""
    assert len(EXAMPLES) == 8
    for name in (
        "Queue",
        "UniqueQueue",
        "Pool",
        "Consumer",
        "ShardedQueue",
        "NotEnoughSyncedSlavesError",
    ):
        assert any(f"import {name}" in code or f", {name}" in code for code in EXAMPLES)


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_readme_example_runs(code, replicated):
    """An example runs against a master with one replica, and prints what its comments say."""
    env = {**os.environ, "REDIS_URL": replicated.master.url}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = re.findall(r"print\(.*?\)\s+# (\d+)", code)
    assert result.stdout.split() == expected
