"""The Python examples of the README and of the documentation (docs/) run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.redis

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
EXAMPLES = [
    (page.relative_to(ROOT).as_posix(), i, code)
    for page in PAGES
    for i, code in enumerate(
        re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)
    )
]


def test_docs_have_examples():
    """The README has its quick start; the docs show each structure, the runtime and the rest."""
    pages = {page for page, _, _ in EXAMPLES}
    assert "README.md" in pages
    assert len(EXAMPLES) >= 18
    codes = [code for _, _, code in EXAMPLES]
    for name in (
        "Queue",
        "UniqueQueue",
        "Pool",
        "Consumer",
        "ShardedQueue",
        "NotEnoughSyncedSlavesError",
        "RedisCluster",
        "Sentinel",
        "QueueCollector",
        "opentelemetry_spans",
    ):
        assert any(re.search(rf"\bimport\b.*\b{name}\b", code) for code in codes), name
    assert any("batch=True" in code for code in codes)
    assert any("Consumer(pool" in code for code in codes)


def deployment_env(code: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The server an example needs: a cluster, a Sentinel group, else a master with a replica."""
    if "RedisCluster" in code:
        return {"REDIS_CLUSTER_URL": request.getfixturevalue("cluster").url}
    if "Sentinel" in code:
        group = request.getfixturevalue("sentinel_group")
        host, port = group.sentinel_addresses[0]
        return {"SENTINEL_ADDRESS": f"{host}:{port}", "SENTINEL_SERVICE": group.service_name}
    return {"REDIS_URL": request.getfixturevalue("replicated").master.url}


@pytest.mark.parametrize(
    "code", [code for _, _, code in EXAMPLES], ids=[f"{page}-{i}" for page, i, _ in EXAMPLES]
)
def test_example_runs(code, request):
    """An example runs against a real server, and prints what its comments say."""
    env = {**os.environ, **deployment_env(code, request)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = re.findall(r"print\(.*?\)\s+# (\w+)", code)
    assert result.stdout.split() == expected
