"""The Lua scripts shipped in aiopyrq/lua and their loader, without Redis."""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from pathlib import Path

import pytest

import aiopyrq
from aiopyrq import _scripts

LUA = resources.files("aiopyrq") / "lua"
SCRIPT_NAMES = sorted(
    entry.name.removesuffix(".lua")
    for entry in LUA.iterdir()
    if entry.is_file() and entry.name.endswith(".lua")
)
KEYS_USE = re.compile(r"KEYS\[(\d+)\]")
HEADER = re.compile(r"\A--\[\[\n(.*?)\n\]\]\n", re.DOTALL)
FUNCTION = re.compile(r"^local function (\w+)", re.MULTILINE)


def keys_used(text: str) -> set[int]:
    return {int(n) for n in KEYS_USE.findall(text)}


def test_there_are_scripts():
    """The package ships the scripts of Queue, UniqueQueue and Pool."""
    assert {"queue_get-10", "unique_get-11", "pool_get-2"} <= set(SCRIPT_NAMES)


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_loads(name):
    """Every script loads, with the key count its name ends in."""
    script = _scripts.load(name)
    assert script.name == name
    assert script.numkeys == int(name.rsplit("-", 1)[1])
    assert script.source.strip()


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_uses_exactly_its_keys(name):
    """A script uses KEYS[1] to KEYS[n] of its name's n, none beyond."""
    script = _scripts.load(name)
    assert re.fullmatch(r"\w+-\d+", name)
    assert keys_used(script.source) == set(range(1, script.numkeys + 1))


VARIANTS = {  # the scripts without the limits' keys, as the structures without limits call them
    script.name: script
    for kind in (aiopyrq.Queue, aiopyrq.UniqueQueue)
    for script in vars(kind).values()
    if isinstance(script, _scripts.Script) and "first" in script.name
}


def test_structures_without_limits_call_the_scripts_without_their_keys():
    """The get, ack and reject of a queue without limits leave the limits' keys out."""
    assert sorted(VARIANTS) == [
        "queue_ack-7 (its first 5 keys)",
        "queue_get-10 (its first 7 keys)",
        "queue_reject-12 (its first 10 keys)",
        "unique_get-11 (its first 8 keys)",
        "unique_reject-13 (its first 11 keys)",
    ]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_variant_uses_only_its_first_keys(name):
    """A variant reads its keys beyond the first n as nil, holds none of the limits' code
    (their functions pass through), and takes n keys in a call."""
    variant = VARIANTS[name]
    full = _scripts.load(name.split(" ")[0])
    assert keys_used(variant.source) == set(range(1, variant.numkeys + 1))
    assert "limits_ready" in full.source
    assert "limits_ready" not in variant.source
    assert "HVALS" not in variant.source
    with pytest.raises(ValueError, match="takes 5 keys"):
        _scripts.load("queue_ack-7", keys=5).call(["a", "b", "c", "d", "e", "f"], [], ["call"])


@pytest.mark.parametrize("keys", [0, 7, 8])
def test_a_variant_takes_fewer_keys_than_its_script(keys):
    """A variant has from 1 to n - 1 of the script's n keys."""
    with pytest.raises(ValueError, match="a variant takes 1 to 6"):
        _scripts.load("queue_ack-7", keys=keys)


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_header_names_its_keys(name):
    """A script opens with a --[[ ]] header that describes each KEYS[i] it uses."""
    text = (LUA / f"{name}.lua").read_text(encoding="utf-8")
    header = HEADER.match(text)
    assert header is not None, f"{name}.lua does not open with a --[[ ... ]] block"
    for n in keys_used(text):
        assert re.search(rf"^\s*KEYS\[{n}\]\s+\S", header.group(1), re.MULTILINE), n
    assert "Output:" in header.group(1)


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_defines_rcall_before_use(name):
    """A script defines `local rcall = redis.call` before anything calls rcall."""
    source = _scripts.load(name).source
    definition = re.search(r"^local rcall = redis\.call$", source, re.MULTILINE)
    assert definition is not None
    assert source.index("rcall(") > definition.end()
    assert source.count("local rcall") == 1


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_includes_are_expanded_once(name):
    """No include line is left after expansion, and no helper is defined twice."""
    source = _scripts.load(name).source
    assert "@include" not in source
    functions = FUNCTION.findall(source)
    assert len(functions) == len(set(functions))


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_sha_is_sha1_of_expanded_source(name):
    """A script's SHA is the SHA1 of its expanded source, which EVALSHA needs."""
    script = _scripts.load(name)
    assert _scripts.expand(name).rstrip("\n") in script.source
    assert script.sha == hashlib.sha1(script.source.encode(), usedforsecurity=False).hexdigest()


def test_load_is_cached():
    """A script is read and expanded once per process."""
    assert _scripts.load(SCRIPT_NAMES[0]) is _scripts.load(SCRIPT_NAMES[0])


@pytest.mark.parametrize("name", ["queue_get", "queue_get-", "queue_get-x", "-3", "queue get-3"])
def test_name_without_key_count_refused(name):
    """A script name must end in -<number of keys>."""
    with pytest.raises(ValueError, match="number of keys"):
        _scripts.load(name)


def test_missing_package_file_refused():
    """Loading a script that is not in the package raises LookupError."""
    with pytest.raises(LookupError, match="no_such_script-1"):
        _scripts.load("no_such_script-1")


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_call_checks_key_count(name):
    """Script.call refuses a wrong number of keys and builds EVALSHA otherwise."""
    script = _scripts.load(name)
    keys = [f"k{i}" for i in range(script.numkeys)]
    with pytest.raises(ValueError, match=f"takes {script.numkeys} keys, got {script.numkeys - 1}"):
        script.call(keys[:-1], ["x"])
    with pytest.raises(ValueError, match=f"takes {script.numkeys} keys, got {script.numkeys + 1}"):
        script.call([*keys, "extra"], [])
    calls = ["call-1", "call-0"] if script.once else []
    call = script.call(keys, ["x", 1], calls)
    assert call.args == ("EVALSHA", script.sha, len(keys) + len(calls), *keys, *calls, "x", 1)
    assert call.script is script
    assert call.call_key == (calls[0] if script.once else None)
    with pytest.raises(ValueError, match="call key"):
        script.call(keys, [], [] if script.once else ["call-1"])


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_scripts_that_write_run_once_per_call(name):
    """Every script runs in the call wrapper, but those that say they change nothing."""
    script = _scripts.load(name)
    body = _scripts.expand(name)
    assert script.once == ("--- @no-writes" not in body)
    if script.once:
        assert body.rstrip("\n") in script.source
        assert f"local own_keys = {script.numkeys}\n" in script.source
        assert f"'PX', {_scripts.CALL_TTL_MS})" in script.source
        assert "@" not in script.source.replace(body, "")  # every placeholder filled
    else:
        assert script.source == body


def test_scripts_that_change_nothing():
    """Only the read scripts (the Pool's two; a Queue's counts, history and next due time) run
    unwrapped."""
    plain = [name for name in SCRIPT_NAMES if not _scripts.load(name).once]
    assert plain == [
        "pool_count_due-1",
        "pool_next_due-1",
        "queue_counts-3",
        "queue_history-1",
        "queue_next_due-2",
    ]


def fake_reader(texts: dict[str, str]):
    """A `read` for expand() over a dict, raising LookupError like the real one."""
    reads: list[str] = []

    def read(path: str) -> str:
        reads.append(path)
        if path not in texts:
            msg = f"no Lua file lua/{path}.lua"
            raise LookupError(msg)
        return texts[path]

    return read, reads


def test_expand_diamond_include_once():
    """A file reached by two includes is expanded once, at its first place."""
    read, reads = fake_reader(
        {
            "top-1": '--- @include "includes/b"\n--- @include "includes/c"\nmain\n',
            "includes/b": '--- @include "includes/d"\nb\n',
            "includes/c": '--- @include "includes/d"\nc\n',
            "includes/d": "d\n",
        }
    )
    source = _scripts.expand("top-1", read)
    assert source.split() == ["d", "b", "c", "main"]
    assert reads.count("includes/d") == 1


def test_expand_without_includes_is_identity():
    """A file with no include line comes back unchanged."""
    read, _ = fake_reader({"top-1": "local x = 1\n-- @include is not a directive here\n"})
    assert _scripts.expand("top-1", read) == "local x = 1\n-- @include is not a directive here\n"


def test_expand_missing_include():
    """An include of a file that does not exist raises LookupError."""
    read, _ = fake_reader({"top-1": '--- @include "includes/gone"\nmain\n'})
    with pytest.raises(LookupError, match="includes/gone"):
        _scripts.expand("top-1", read)


@pytest.mark.parametrize(
    "texts",
    [
        {"top-1": '--- @include "includes/a"\n', "includes/a": '--- @include "includes/a"\n'},
        {
            "top-1": '--- @include "includes/a"\n',
            "includes/a": '--- @include "includes/b"\n',
            "includes/b": '--- @include "includes/a"\n',
        },
    ],
    ids=["self", "a-b-a"],
)
def test_expand_cyclic_include(texts):
    """A cyclic include raises ValueError."""
    read, _ = fake_reader(texts)
    with pytest.raises(ValueError, match="cyclic include"):
        _scripts.expand("top-1", read)


def test_expand_same_include_twice_in_one_file():
    """A file that lists the same include twice raises ValueError."""
    read, _ = fake_reader(
        {"top-1": '--- @include "includes/a"\nx\n--- @include "includes/a"\n', "includes/a": "a\n"}
    )
    with pytest.raises(ValueError, match="twice"):
        _scripts.expand("top-1", read)


def test_no_lua_in_python_sources():
    """No Python module of the package holds Lua code: scripts live in lua/*.lua."""
    package = Path(aiopyrq.__file__).parent
    sources = sorted(package.rglob("*.py"))
    assert len(sources) >= 5
    offenders = [str(path) for path in sources if "redis.call" in path.read_text("utf-8")]
    assert offenders == []


READY = re.compile(r"^ready\(\{([^}]*)\}\)$", re.MULTILINE)
QUOTED = re.compile(r"'([A-Z]+)'")
NOT_COMMANDS = {"LIMIT", "WITHSCORES"}  # arguments of ZRANGEBYSCORE and ZRANGE
OPTIONAL = {"PUBLISH"}  # called with pcall only: best effort, see includes/delayed
LIMITS_READY = re.compile(
    r"^local function limits_ready\(\)\n  ready\(\{([^}]*)\}\)$", re.MULTILINE
)
PRIORITY_READY = re.compile(
    r"^local function priority_ready\(\)\n  ready\(\{([^}]*)\}\)$", re.MULTILINE
)


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_checks_every_command_it_uses(name):
    """A script calls ready() once, with exactly the commands its source names (ACL checks).

    The limits (includes/limits) check their own commands, only when a call uses them:
    each of their entry points calls ``limits_ready()`` before the first write; so do the
    levels (includes/priority) with ``priority_ready()``, where a get reads them.
    """
    source = _scripts.expand(name)  # the script's own source; the wrapper checks its own
    [listed] = READY.findall(source)
    checked = set(QUOTED.findall(listed))
    assert len(checked) == len(QUOTED.findall(listed)), "a command listed twice"
    rest = READY.sub("", source)
    for limits in LIMITS_READY.findall(source):
        checked |= set(QUOTED.findall(limits))
        rest = LIMITS_READY.sub("", rest)
        assert rest.count("limits_ready()") == 2  # the get's, the frees'
    for levels in PRIORITY_READY.findall(source):
        checked |= set(QUOTED.findall(levels))
        rest = PRIORITY_READY.sub("", rest)
        assert rest.count("priority_ready()") == 2  # levels_of's, levels_head's
    assert checked == set(QUOTED.findall(rest)) - NOT_COMMANDS - OPTIONAL
    for command in OPTIONAL & set(QUOTED.findall(rest)):
        assert rest.count(f"'{command}'") == rest.count(f"redis.pcall('{command}'"), command


def test_call_wrapper_checks_the_commands_it_uses():
    """The call wrapper checks its own commands before the script runs (ACL)."""
    wrapper = _scripts.expand("wrap/once")
    listed = re.search(r"for _, command in ipairs\(\{([^}]*)\}\)", wrapper)
    assert listed is not None
    checked = set(QUOTED.findall(listed.group(1)))
    rest = wrapper.replace(listed.group(0), "")
    assert checked == set(QUOTED.findall(rest)) - {"PX"}
    assert wrapper.index("acl_check_cmd") < wrapper.index("local reply = run_script()")
