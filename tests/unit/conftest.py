"""Unit tests start no server: the suite's server fixtures fail here if a test asks for one."""

from __future__ import annotations

import pytest


def _refused(fixture: str):
    """A fixture named like a server fixture of tests/conftest.py that fails the test."""

    @pytest.fixture(name=fixture)
    def refuse(request):
        pytest.fail(f"{request.node.nodeid} asks for {fixture}: tests/unit starts no server")

    return refuse


redis_server = _refused("redis_server")
replicated = _refused("replicated")
cluster = _refused("cluster")
sentinel_group = _refused("sentinel_group")
