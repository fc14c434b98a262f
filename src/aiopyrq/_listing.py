"""Every structure on a server, or on every master of a Redis Cluster: ``aiopyrq ls``.

The keys are listed with SCAN (on a cluster, on every master), never KEYS. Each key gives
the names of the structures it may belong to (``_keys.names_of_key``): ``orders-dead`` is
the dead letters of ``orders``, or a queue of that name (``orders-delayed``, its delayed
items or a Pool of that name). The shortest name that has keys
of its own wins: a name whose keys all belong to another structure (``orders-dead``) is
not one, nor is a key a structure keeps beside its own (``orders-processing-...``, a Pool's
wake-up token), even when that structure has no key left. A name is a structure when the
read model finds its kind from the types of its keys (``_snapshot.kinds``). Shards
``NAME:0``, ``NAME:1`` ... of a NAME without keys of its own are one sharded queue, as
``_snapshot.resolve`` reads ``NAME``.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import redis.cluster

from aiopyrq import _snapshot
from aiopyrq._keys import QueueKeys, is_inner_key, names_of_key, own_key_prefixes, shard_of
from aiopyrq._types import KIND_NAMES

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterable

    from aiopyrq._types import Kind

_COUNT = 1000  # keys a SCAN call looks at


def find(client: _snapshot.Client, pattern: str = "*") -> list[_snapshot.Target]:
    r"""Every structure and sharded queue whose name matches ``pattern``, sorted by name.

    Args:
        client: The client; a ``RedisCluster`` scans every master.
        pattern: A Redis glob (``*``, ``?``, ``[a-z]``, ``\`` escapes) matched against the
            name, or against the structure's own key (``{orders}`` on a cluster). A sharded
            queue also matches if one of its shards does.

    Returns:
        The structures, as ``_snapshot.resolve`` would give each name.
    """
    cluster = isinstance(client, redis.cluster.RedisCluster)
    keys = set(_scan(client, pattern, cluster=cluster))
    names = _owners(keys, cluster=cluster)
    bases = {shard[0] for name in names if (shard := shard_of(name))}
    kinds = _snapshot.kinds(client, sorted(names | bases))
    found = [_snapshot.Target(name, kind) for name, kind in kinds.items()]
    groups: dict[str, dict[int, _snapshot.Target]] = {}
    for target in found:
        shard = shard_of(target.name)
        if shard and shard[0] not in kinds and target.kind != "pool":
            groups.setdefault(shard[0], {})[shard[1]] = target
    grouped = set()
    for base, group in groups.items():
        try:
            found.append(_snapshot.sharded(client, base, max(group) + 1))
        except _snapshot.SnapshotError:  # a Pool among NAME:0 ... NAME:n: not a sharded queue
            continue
        grouped |= {shard.name for shard in group.values()}
    found = [target for target in found if target.name not in grouped]
    matches = glob(pattern)

    def wanted(target: _snapshot.Target) -> bool:
        own = QueueKeys(target.name, cluster=cluster).queue
        return any(matches(name) for name in (target.name, own, *target.shards))

    return sorted(filter(wanted, found), key=lambda target: target.name)


def _scan(client: _snapshot.Client, pattern: str, *, cluster: bool) -> Iterable[str]:
    """The keys that may belong to a structure matching pattern (more, never fewer).

    A structure's keys start with its own key: ``NAME`` and ``NAME-...``, on a cluster
    ``{NAME}`` and ``{NAME}-...`` (or ``NAME...`` if the name has a hash tag).
    """
    if cluster:
        found = client.scan_iter(
            match=f"*{pattern}*", count=_COUNT, target_nodes=redis.cluster.RedisCluster.PRIMARIES
        )
    else:
        found = client.scan_iter(match=f"{pattern}*", count=_COUNT)
    return (_snapshot.text(key) for key in found)


def _owners(keys: set[str], *, cluster: bool) -> set[str]:
    """The names that have keys of their own among ``keys``, shortest first."""
    candidates = sorted(
        {name for key in keys for name in names_of_key(key, cluster=cluster)},
        key=lambda name: (len(name), name),
    )
    owners: dict[str, QueueKeys] = {}  # own key -> keys of a structure found

    def owned(key: str) -> bool:
        return any(p in owners and owners[p].owns(key) for p in own_key_prefixes(key))

    for name in candidates:
        keys_of_name = QueueKeys(name, cluster=cluster)
        present = [key for key in keys_of_name.kind_keys if key in keys]
        if is_inner_key(keys_of_name.queue, cluster=cluster):
            continue
        if present and not all(map(owned, present)):
            owners[keys_of_name.queue] = keys_of_name
    return {keys_of_name.name for keys_of_name in owners.values()}


def glob(pattern: str) -> Callable[[str], bool]:
    """Whether a name matches the Redis glob ``pattern`` in full, as SCAN MATCH decides."""
    parts, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
        elif char == "[":
            end = _class_end(pattern, i + 1)
            parts.append(_class(pattern[i + 1 : end]))
            i = end + 1
        else:
            parts.append({"*": ".*", "?": "."}.get(char) or re.escape(char))
            i += 1
    regex = re.compile("".join(parts), re.DOTALL)
    return lambda name: regex.fullmatch(name) is not None


def _class_end(pattern: str, start: int) -> int:
    """Where the ``[...]`` whose body starts at start closes (Redis: at the end if not)."""
    i = start
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "]":
            return i
        i += 1
    return len(pattern)


def _class(body: str) -> str:
    """The regex of a glob's ``[...]`` body: ``^`` negates, ``a-z`` is a range."""
    negate = body.startswith("^")
    body = body[1:] if negate else body
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(re.escape(body[i + 1]))
            i += 2
        elif body[i] == "-" and out and i + 1 < len(body):
            out.append("-")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    if not out:  # [] matches no character, [^] any
        return "." if negate else "(?!)"
    return f"[{'^' if negate else ''}{''.join(out)}]"


def row(snapshot: _snapshot.Snapshot) -> dict[str, Any]:
    """One line of the list: the kind and the counts (a Pool: its due items wait)."""
    shards = len(snapshot.shards) if isinstance(snapshot, _snapshot.ShardedSnapshot) else 0
    common = {"name": snapshot.name, "kind": snapshot.kind, "shards": shards}
    if isinstance(snapshot, _snapshot.PoolSnapshot):
        return common | {
            "waiting": snapshot.due,
            "delayed": None,
            "in_flight": snapshot.in_flight,
            "consumers": None,
            "dead": None,
        }
    return common | {
        "waiting": snapshot.waiting,
        "delayed": snapshot.delayed,
        "in_flight": snapshot.in_flight,
        "consumers": len(snapshot.holders),
        "dead": snapshot.dead,
    }


def title(kind: Kind, shards: int) -> str:
    """What a structure is: ``Queue``, ``Pool``, ``ShardedQueue of 3 UniqueQueues``."""
    name = KIND_NAMES[kind]
    return f"ShardedQueue of {shards} {name}s" if shards else name


def table(rows: list[dict[str, Any]]) -> list[str]:
    """The rows as aligned text columns, a header first (``-`` where a count does not apply)."""
    headers = {"waiting": "WAITING", "delayed": "DELAYED", "in_flight": "IN FLIGHT"}
    headers |= {"consumers": "CONSUMERS", "dead": "DEAD"}
    cells = [
        [r["name"], title(r["kind"], r["shards"])]
        + ["-" if r[key] is None else str(r[key]) for key in headers]
        for r in rows
    ]
    header = ["NAME", "KIND", *headers.values()]
    widths = [max(len(line[col]) for line in [header, *cells]) for col in range(len(header))]

    def line(values: list[str]) -> str:
        left = [f"{v:<{w}}" for v, w in zip(values[:2], widths, strict=False)]
        right = [f"{v:>{w}}" for v, w in zip(values[2:], widths[2:], strict=True)]
        return "  ".join(left + right)

    return [line(header), *map(line, cells)]


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parent: argparse.ArgumentParser,
) -> None:
    """Add the command ``ls`` to the command line's commands (``parent``: --url, --cluster)."""
    text = "every queue, unique queue, pool and sharded queue, with its counts"
    ls = commands.add_parser(
        "ls",
        parents=[parent],
        help=text,
        description=(
            f"List {text}, found by SCAN (on a Redis Cluster, on every master), sorted by "
            "name. A queue's delayed items not yet due are apart from its waiting ones. A "
            "Pool's due items are its waiting ones; it has no delayed items, no consumers "
            "with a lease and no dead letters (-)."
        ),
    )
    ls.add_argument(
        "pattern",
        nargs="?",
        default="*",
        metavar="PATTERN",
        help="a Redis glob on the names, e.g. 'orders*' (default: every structure)",
    )
    ls.add_argument("--kind", choices=list(KIND_NAMES), help="only the structures of this kind")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(run=run)


def run(args: argparse.Namespace, client: _snapshot.Client, url: str) -> int:
    """Print the list (``aiopyrq ls``); return the exit code, 0."""
    del url
    targets = [t for t in find(client, args.pattern) if args.kind in {None, t.kind}]
    rows = [row(snapshot) for snapshot in _snapshot.read_targets(client, targets)]
    if args.json:
        lines = [json.dumps(rows, indent=2)]
    elif rows:
        lines = table(rows)
    else:
        what = "queue, unique queue, pool or sharded queue"
        what = what if args.kind is None else KIND_NAMES[args.kind]
        lines = [f"no {what} matches {args.pattern!r}"]
    print("\n".join(lines), flush=True)  # noqa: T201 - the command's output
    return 0
