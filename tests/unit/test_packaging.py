"""The built wheel ships the library and nothing else: built here, installed in a fresh venv."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import aiopyrq

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "aiopyrq"
LUA = PACKAGE / "lua"
SCRIPTS = sorted(path.stem for path in LUA.glob("*.lua"))
INCLUDES = sorted(path.stem for path in (LUA / "includes").glob("*.lua"))
WEB = PACKAGE / "web"
ASSETS = sorted([*(WEB / "templates").glob("*.html"), *(WEB / "static").glob("*")])

# Run in the fresh venv: import the installed package and load every script by name.
CHECK = """
import json, sys
import aiopyrq
from aiopyrq import _scripts
scripts = [_scripts.load(name) for name in json.loads(sys.argv[1])]
print(json.dumps({
    "file": aiopyrq.__file__,
    "version": aiopyrq.__version__,
    "all": aiopyrq.__all__,
    "loaded": {script.name: script.numkeys for script in scripts},
}))
"""


def run(*args: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command to completion in cwd, failing the test with its output if it fails
    (unless told not to check)."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0 or not check, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from this checkout."""
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", out, ROOT]
    if importlib.util.find_spec("hatchling") is not None:
        command.insert(-1, "--no-build-isolation")  # else pip fetches hatchling itself
    run(*command, cwd=out)
    (built,) = out.glob("aio_py_rq-*.whl")
    return built


def test_wheel_contents(wheel):
    """The wheel holds every Lua script and include, the dashboard's assets, py.typed, no tests."""
    names = set(zipfile.ZipFile(wheel).namelist())
    assert len(SCRIPTS) >= 10
    assert len(INCLUDES) >= 3
    for script in SCRIPTS:
        assert f"aiopyrq/lua/{script}.lua" in names
    for include in INCLUDES:
        assert f"aiopyrq/lua/includes/{include}.lua" in names
    assert {path.name for path in ASSETS} >= {"dashboard.css", "dashboard.js", "base.html"}
    for asset in ASSETS:
        assert f"aiopyrq/{asset.relative_to(PACKAGE).as_posix()}" in names
    assert "aiopyrq/py.typed" in names
    assert "aiopyrq/__init__.py" in names
    assert [name for name in names if "test" in name.split("/")[0] or "conftest" in name] == []


def test_wheel_files(wheel):
    """The wheel holds exactly the package's modules, py.typed, its Lua files, the dashboard's
    templates and assets, and metadata."""
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = [*PACKAGE.rglob("*.py"), PACKAGE / "py.typed", *LUA.rglob("*.lua"), *ASSETS]
    expected = {f"aiopyrq/{path.relative_to(PACKAGE).as_posix()}" for path in sources}
    dist_info = wheel.name.split("-py")[0] + ".dist-info"
    files = ("METADATA", "WHEEL", "entry_points.txt", "licenses/LICENSE")
    metadata = {f"{dist_info}/{name}" for name in files}

    assert names - {f"{dist_info}/RECORD"} == expected | metadata
    assert len(expected) > 50
    for gone in ("testing.py", "demo.py", "harness"):  # moved to tests/ and examples/
        assert [name for name in names if gone in name] == []


def test_wheel_metadata(wheel):
    """The metadata names the licence, ships its text, and links the source and changelog."""
    with zipfile.ZipFile(wheel) as archive:
        dist_info = wheel.name.split("-py")[0] + ".dist-info"
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        licence = archive.read(f"{dist_info}/licenses/LICENSE").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Apache License" in licence
    assert "Version 2.0" in licence
    for label in ("Homepage", "Documentation", "Source", "Changelog"):
        assert f"Project-URL: {label}, https://" in metadata
    for minor in range(10, 14):
        assert f"Classifier: Programming Language :: Python :: 3.{minor}" in metadata


def test_installed_wheel_loads_scripts(wheel, tmp_path):
    """Installed in a fresh venv, the package imports and loads every script from its files."""
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", wheel, cwd=tmp_path)

    result = run(python, "-c", CHECK, json.dumps(SCRIPTS), cwd=tmp_path)
    report = json.loads(result.stdout)

    assert Path(report["file"]).is_relative_to(venv)  # not this checkout's src/
    assert report["version"] == wheel.name.split("-")[1]
    assert report["all"] == aiopyrq.__all__
    assert report["loaded"] == {name: int(name.rsplit("-", 1)[1]) for name in SCRIPTS}

    # Without the extra web, `aiopyrq web` says what to install, in one line, before connecting.
    web = run(
        venv / "bin" / "aiopyrq", "web", "--url", "redis://127.0.0.1:1", cwd=tmp_path, check=False
    )
    assert (web.returncode, web.stdout) == (2, "")
    assert web.stderr == "aiopyrq: aiopyrq web needs the extra web: pip install 'aio-py-rq[web]'\n"
