"""The ``aiopyrq`` command: what queues and pools hold, who holds it, and putting it back."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import sys
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

import aiopyrq
from aiopyrq import _history, _listing, _snapshot
from aiopyrq._dead import DeadLetter, dead_letter
from aiopyrq._types import KIND_NAMES, structure_of
from aiopyrq._urls import mask
from aiopyrq.errors import AiopyrqError, MissingDependencyError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from aiopyrq._types import Consumable, Kind

DEFAULT_URL = "redis://localhost:6379"

EXIT_OK = 0
EXIT_REDIS_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_AUTH = 4
EXIT_WRONG_TYPE = 5
EXIT_NO_SUCH_NAME = 6
EXIT_INTERRUPTED = 130

EPILOG = f"""\
connection:
  --url URL, else $REDIS_URL, else {DEFAULT_URL}. rediss:// for TLS; an ACL user
  and password go in the URL: redis://user:password@host:6379/0. Passwords are never printed.

structures:
  The kind of NAME is found from its keys: a list NAME is a Queue, with a set NAME-unique
  a UniqueQueue, a sorted set NAME a Pool. An empty one has no key at all (nothing waits,
  nothing is held): give --kind to read it as empty. An empty UniqueQueue whose items are
  all in flight looks like a Queue: give --kind unique to recover its items.
  A NAME without keys of its own is a ShardedQueue if keys of shards NAME:0, NAME:1 ...
  exist (found by SCAN, up to the highest-numbered one); --shards N says how many there
  are. Each command then works on every shard; stats shows each shard and the totals.

Redis Cluster:
  A server with cluster_enabled:1 in INFO is reached as a cluster, with the keys the library
  uses there ({{NAME}}, {{NAME}}-timeouts ...). --cluster or --no-cluster skips that question.

exit codes:
  {EXIT_OK}  done
  {EXIT_REDIS_ERROR}  another Redis error (the message says which)
  {EXIT_USAGE}  bad command line or URL
  {EXIT_UNREACHABLE}  the server cannot be reached (refused, timed out, TLS failed)
  {EXIT_AUTH}  authentication failed (wrong user or password, password required, no permission)
  {EXIT_WRONG_TYPE}  a key has the wrong type, or the command does not apply to that structure
  {EXIT_NO_SUCH_NAME}  no queue or pool of that name
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C), except watch, which then exits 0
"""


class UsageError(AiopyrqError):
    """A command line or URL that cannot be used."""


_NOT_CLUSTER = "{url} is a Redis Cluster node: leave out --no-cluster (or give --cluster)"
_AUTH_FIRST = (
    "{url} needs a password, and the URL gives none: "
    "redis://:PASSWORD@HOST:PORT, or redis://USER:PASSWORD@HOST:PORT"
)
# What redis-py says when the server wants a password first (RESP3's HELLO, or RESP2).
_NO_AUTH = re.compile("HELLO must be called with the client already authenticated|NOAUTH")

# What each error means to the user: (error class, exit code, message); the first match wins.
_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (UsageError, EXIT_USAGE, "{error}"),
    (redis.AuthenticationError, EXIT_AUTH, "authentication failed on {url}: {error}"),
    (redis.exceptions.NoPermissionError, EXIT_AUTH, "no permission on {url}: {error}"),
    (redis.ConnectionError, EXIT_UNREACHABLE, "cannot reach {url}: {error}"),
    (redis.TimeoutError, EXIT_UNREACHABLE, "{url} did not answer in time: {error}"),
    (redis.exceptions.RedisClusterException, EXIT_REDIS_ERROR, "Redis Cluster at {url}: {error}"),
    # Only a cluster node answers MOVED, ASK or CROSSSLOT to a client that is not a cluster's.
    (redis.exceptions.AskError, EXIT_USAGE, _NOT_CLUSTER),
    (redis.exceptions.ClusterCrossSlotError, EXIT_USAGE, _NOT_CLUSTER),
    (_snapshot.WrongTypeError, EXIT_WRONG_TYPE, "{error}"),
    (_snapshot.UnknownNameError, EXIT_NO_SUCH_NAME, "{error}"),
    (redis.RedisError, EXIT_REDIS_ERROR, "{url} answered: {error}"),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    url = args.url or os.environ.get("REDIS_URL") or DEFAULT_URL
    try:
        args.prepare()  # e.g. web: its extra is there, before anything connects
        with _connect(url, args.cluster) as client:
            return int(args.run(args, client, url))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except MissingDependencyError as error:
        print(f"aiopyrq: {error}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    except (
        UsageError,
        _snapshot.SnapshotError,
        redis.RedisError,
        redis.exceptions.RedisClusterException,
    ) as error:
        return _fail(error, url)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line."""
    parser = argparse.ArgumentParser(
        "aiopyrq",
        description="Look into aio-py-rq queues and pools on Redis, and put stuck items back.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", help=f"the Redis URL (default $REDIS_URL, else {DEFAULT_URL})")
    parser.add_argument("--version", action="version", version=f"aiopyrq {aiopyrq.__version__}")
    parser.add_argument(
        "--cluster",
        action=argparse.BooleanOptionalAction,
        help="the server is (or is not) a Redis Cluster node (default: ask it)",
    )
    parser.set_defaults(url=None, cluster=None, prepare=lambda: None)
    url = argparse.ArgumentParser(add_help=False)  # --url and --cluster also after the command
    url.add_argument("--url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    url.add_argument(
        "--cluster",
        action=argparse.BooleanOptionalAction,
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )
    common = argparse.ArgumentParser(add_help=False, parents=[url])
    common.add_argument(
        "--kind",
        choices=list(KIND_NAMES),
        help="read NAME (or each shard) as this structure instead of finding it from its keys",
    )
    common.add_argument(
        "--shards",
        type=_positive_int,
        metavar="N",
        help="NAME is a sharded queue of N shards, NAME:0 to NAME:<N-1>",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, run: Callable[..., int], text: str, aliases: Sequence[str] = ()
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, parents=[common], help=text, description=text, aliases=list(aliases)
        )
        sub.set_defaults(run=run)
        return sub

    _listing.add_command(commands, url)
    _add_web(commands, url)
    stats = command(
        "stats",
        _stats,
        "waiting, delayed, in flight per consumer, dead letters, and items per second",
    )
    stats.add_argument("names", nargs="+", metavar="NAME", help=NAME_OR_PATTERN)
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.add_argument(
        "--over",
        type=_positive_float,
        metavar="SECONDS",
        help="read twice, SECONDS apart, and show each count's change (per second) between",
    )
    peek = command("peek", _peek, "the next items to be handed out, first first")
    peek.add_argument("name", metavar="NAME")
    peek.add_argument("-n", type=_positive_int, default=10, help="how many (%(default)s)")
    stale_commands: tuple[tuple[str, str, list[str]], ...] = (
        ("recover-stale", "put back in the queue", ["requeue-stale"]),  # its name before 5.0
        ("drop-stale", "delete", []),
    )
    for name, verb, aliases in stale_commands:
        text = f"{verb} the items of consumers whose lease is stale"
        stale = command(name, _stale, text, aliases)
        stale.add_argument("name", metavar="NAME")
        stale.add_argument(
            "--older-than",
            type=_seconds,
            required=True,
            metavar="SECONDS",
            help="the consumers whose last get or heartbeat is older than this",
        )
        stale.add_argument("--dry-run", action="store_true", help="count, change nothing")
        stale.set_defaults(drop=name == "drop-stale")
    dead = command("dead", _dead, "list (with why they died), requeue or purge the dead letters")
    dead.add_argument("action", choices=["list", "requeue", "purge"])
    dead.add_argument("name", metavar="NAME")
    dead.add_argument("-n", type=_positive_int, default=100, help="list: how many (%(default)s)")
    dead.add_argument("--dry-run", action="store_true", help="count, change nothing")
    watch = command("watch", _watch, "stats, refreshed until Ctrl-C")
    watch.add_argument("names", nargs="+", metavar="NAME", help=NAME_OR_PATTERN)
    watch.add_argument("--interval", type=_positive_float, default=2.0, help="seconds (2)")
    watch.add_argument("--count", type=_positive_int, help="stop after this many refreshes")
    return parser


def _add_web(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parent: argparse.ArgumentParser,
) -> None:
    """Add the command ``web``: the dashboard (``aiopyrq.web``), served by uvicorn."""
    text = "serve the dashboard: every structure, its consumers, history and dead letters"
    web = commands.add_parser(
        "web",
        parents=[parent],
        help=text,
        description=(
            f"{text.capitalize()}, in a browser (the extra web: pip install "
            "'aio-py-rq[web]'). Read-only unless a token is given: then a browser that "
            "signs in with it can requeue or purge dead letters and requeue the items of "
            "stale consumers."
        ),
    )
    web.add_argument("--host", default="127.0.0.1", help="the address to listen on (%(default)s)")
    web.add_argument("--port", type=int, default=8000, help="the port to listen on (%(default)s)")
    web.add_argument(
        "--token",
        default=os.environ.get("AIOPYRQ_WEB_TOKEN"),
        help="allow actions to whoever gives this token (default $AIOPYRQ_WEB_TOKEN, else none: "
        "read-only)",
    )
    web.add_argument(
        "--refresh",
        type=_positive_float,
        default=5.0,
        metavar="SECONDS",
        help="how often a page reads its counts again (%(default)s)",
    )
    web.set_defaults(run=_web, prepare=_web_modules)


LOOPBACK = ("127.0.0.1", "localhost")


def _web_modules() -> tuple[Any, Any]:
    """The modules ``web`` needs: uvicorn and ``aiopyrq.web``.

    Raises:
        MissingDependencyError: The extra web is not installed.
    """
    try:  # the extra web is optional
        import uvicorn  # noqa: PLC0415

        from aiopyrq import web  # noqa: PLC0415
    except ImportError as exc:
        msg = "aiopyrq web needs the extra web: pip install 'aio-py-rq[web]'"
        raise MissingDependencyError(msg) from exc
    return uvicorn, web


def _web(args: argparse.Namespace, client: _snapshot.Client, url: str) -> int:
    """Serve the dashboard until Ctrl-C or SIGTERM."""
    uvicorn, web = _web_modules()
    loopback = args.host in LOOPBACK
    app = web.create_app(
        client,
        token=args.token or None,
        label=mask(url),
        refresh=args.refresh,
        allowed_hosts=LOOPBACK if loopback else None,  # no DNS rebinding to a local one
    )
    mode = "actions need the token" if args.token else "read-only"
    _say(f"aiopyrq web: {mask(url)} on http://{args.host}:{args.port}/ ({mode})")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return EXIT_OK


NAME_OR_PATTERN = (
    "a structure, or a Redis glob ('orders*') where no structure has that name: "
    "each structure it matches (see ls)"
)


def _connect(url: str, cluster: bool | None) -> _snapshot.Client:
    try:
        return _snapshot.connect(
            url,
            cluster=cluster,
            decode_responses=True,
            encoding_errors="backslashreplace",
            socket_connect_timeout=5,
            socket_timeout=10,
        )
    except ValueError as exc:
        msg = f"bad URL {mask(url)}: {exc}"
        raise UsageError(msg) from exc
    except redis.exceptions.RedisClusterException as exc:  # no node answered as a cluster
        raise redis.ConnectionError(str(exc)) from exc


def _fail(error: Exception, url: str) -> int:
    """Print what went wrong on one line of stderr, password masked; return the exit code."""
    code, template = next((code, text) for kind, code, text in _ERRORS if isinstance(error, kind))
    if str(error).startswith("WRONGTYPE"):
        code = EXIT_WRONG_TYPE
    password = unquote(urlsplit(url).password or "")
    if isinstance(error, redis.AuthenticationError) and _NO_AUTH.search(str(error)):
        template = template if password else _AUTH_FIRST
    message = template.format(url=mask(url), error=error)
    if password:
        message = message.replace(password, "***")
    print(f"aiopyrq: {' '.join(message.split())}", file=sys.stderr)  # noqa: T201
    return code


def _say(line: str = "") -> None:
    print(line, flush=True)  # noqa: T201 - the command's output


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        msg = f"must be at least 1, got {number}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _seconds(value: str) -> int:
    number = int(value)
    if number < 0:
        msg = f"must be 0 or more, got {number}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        msg = f"must be more than 0, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _target(client: _snapshot.Client, name: str, args: argparse.Namespace) -> _snapshot.Target:
    """What name stands for: a structure, or a sharded queue (see ``_snapshot.resolve``)."""
    return _snapshot.resolve(client, name, args.kind, args.shards)


def _queue_target(client: _snapshot.Client, args: argparse.Namespace) -> _snapshot.Target:
    """What args.name stands for, which must be a Queue, UniqueQueue or sharded queue."""
    target = _target(client, args.name, args)
    if target.kind == "pool":
        command = " ".join(filter(None, [args.command, getattr(args, "action", None)]))
        msg = f"{args.name!r} is a Pool: {command} works on a Queue or UniqueQueue"
        raise _snapshot.WrongTypeError(msg)
    return target


def _library(
    url: str,
    client: _snapshot.Client,
    target: _snapshot.Target,
    call: Callable[[Consumable], Awaitable[int]],
) -> int:
    """Run a call of the library's API on each queue of the target; return the sum.

    It runs in an event loop of its own, with an asyncio client like ``client``.
    """

    async def run() -> int:
        connection: redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster
        if isinstance(client, redis.cluster.RedisCluster):
            connection = redis.asyncio.cluster.RedisCluster.from_url(url, decode_responses=True)
        else:
            connection = redis.asyncio.Redis.from_url(url, decode_responses=True)
        total = 0
        try:
            for name in target.names:
                total += await call(structure_of(target.kind, name, connection))
        finally:
            await connection.aclose()
        return total

    return asyncio.run(run())


def _targets(client: _snapshot.Client, args: argparse.Namespace) -> list[_snapshot.Target]:
    """What each of args.names stands for; a glob that names no structure: each match.

    A glob (with ``*``, ``?`` or ``[``) stands for the structures ``ls`` lists for it, of
    the kind --kind gives if given, unless a structure has that very name or --shards is
    given.
    """
    targets = []
    for name in args.names:
        if _GLOB.search(name) and not args.shards and not _snapshot.kinds(client, [name]):
            found = [t for t in _listing.find(client, name) if args.kind in {None, t.kind}]
            if not found:
                msg = f"no queue or pool matches {name!r} (`aiopyrq ls` lists them all)"
                raise _snapshot.UnknownNameError(msg)
            targets += found
        else:
            targets.append(_target(client, name, args))
    return targets


_GLOB = re.compile(r"[*?[]")
_UTC = "%Y-%m-%dT%H:%M:%SZ"


def _stats(args: argparse.Namespace, client: _snapshot.Client, url: str) -> int:
    del url
    targets = _targets(client, args)
    before: list[_snapshot.Snapshot | None] = [None for _ in targets]
    started = time.monotonic()
    if args.over:  # a first reading, to count the change per second since
        before = list(_snapshot.read_targets(client, targets))
        time.sleep(args.over)
    seconds = time.monotonic() - started
    snapshots = _snapshot.read_targets(client, targets)
    rates = _rates(client, targets)
    shown = zip(snapshots, before, rates, strict=True)
    if args.json:
        data = [_with_rates(now, was, seconds, rate) for now, was, rate in shown]
        _say(json.dumps(data, indent=2))
    else:
        views = [render(now, was, seconds, rate) for now, was, rate in shown]
        _say("\n\n".join("\n".join(view) for view in views))
    return EXIT_OK


RATE_MINUTES = 5
"""The longer span of the rates from the history: the last full minute, and this many."""

RATE_EVENTS = ("added", "delivered", "acked", "failed", "recovered", "dead")


def _rates(
    client: _snapshot.Client, targets: Sequence[_snapshot.Target]
) -> list[dict[str, dict[str, float]]]:
    """The items per second of each target from its history (``history_rates``)."""
    return [
        history_rates(history)
        for history in _snapshot.read_histories(client, targets, RATE_MINUTES + 1)
    ]


def history_rates(history: Sequence[_history.HistoryMinute]) -> dict[str, dict[str, float]]:
    """Items per second of each event over the last full minute and the last RATE_MINUTES.

    The current minute, the last of the history, is still counting: it is left out.
    """
    full = history[:-1]
    spans = {"last_minute": full[-1:], f"last_{RATE_MINUTES}_minutes": full[-RATE_MINUTES:]}
    return {
        span: {e: sum(getattr(m, e) for m in minutes) / (60 * len(minutes)) for e in RATE_EVENTS}
        for span, minutes in spans.items()
    }


def _with_rates(
    snapshot: _snapshot.Snapshot,
    before: _snapshot.Snapshot | None,
    seconds: float,
    history: dict[str, dict[str, float]] | None = None,
) -> dict[str, object]:
    """The snapshot's JSON, with the items per second from the history if given.

    After a first reading, each count's change per second since, too.
    """
    data = snapshot.to_json()
    if history is not None:
        data["history_per_second"] = history
    if before is None:
        return data
    was = before.to_json()
    counts = ("waiting", "delayed", "in_flight", "dead", "total", "due", "scheduled")
    rates = {key: (data[key] - was[key]) / seconds for key in counts if key in data}
    return data | {"per_second": rates, "over_seconds": seconds}


def _peek(args: argparse.Namespace, client: _snapshot.Client, url: str) -> int:
    del url
    target = _target(client, args.name, args)
    for name in target.names:
        shard = f"{name}\t" if target.shards else ""
        for line in _next_items(client, name, target.kind, args.n):
            _say(shard + line)
    return EXIT_OK


def _next_items(client: _snapshot.Client, name: str, kind: Kind, count: int) -> list[str]:
    """The next items of a structure to be handed out, first first (a Pool's with their state)."""
    return [
        next_item.item if next_item.due_in is None else f"{next_item.item}\t{pool_state(next_item)}"
        for next_item in _snapshot.head(client, name, kind, count)
    ]


def pool_state(next_item: _snapshot.Next) -> str:
    """Where a Pool's item stands: ``due``, ``due in 5 s``, ``in flight, due again in 5 s``."""
    if next_item.due_in is None or next_item.due_in <= 0:
        return "due"
    if next_item.in_flight:
        return f"in flight, due again in {age(next_item.due_in)}"
    return f"due in {age(next_item.due_in)}"


def _stale(args: argparse.Namespace, client: _snapshot.Client, url: str) -> int:
    target = _queue_target(client, args)
    snapshots = [_snapshot.read_queue(client, name, target.kind) for name in target.names]
    stale = [(each.name, holder) for each in snapshots for holder in each.stale(args.older_than)]
    verb, done = ("drop", "dropped") if args.drop else ("requeue", "requeued")
    what = f"of consumers whose lease is older than {args.older_than} s"
    if args.dry_run:
        count = sum(holder.items for _, holder in stale)
        _say(f"would {verb} {count} items {what}, from {counted(len(stale), 'consumer')} (dry run)")
    else:
        count = _library(url, client, target, lambda queue: _recover(queue, args))
        _say(f"{done} {count} items {what}")
    for shard, holder in stale:
        where = f" on {shard}" if target.shards else ""
        lease = age(holder.lease_age)
        _say(f"  {holder.consumer_id}{where}  {holder.items} items, lease {lease} old")
    return EXIT_OK


async def _recover(queue: Consumable, args: argparse.Namespace) -> int:
    if args.drop:
        return await queue.drop_timeout_items(args.older_than)
    return await queue.re_enqueue_timeout_items(args.older_than)


def _dead(args: argparse.Namespace, client: _snapshot.Client, url: str) -> int:
    target = _queue_target(client, args)
    every_keys = {name: _snapshot.keys_of(client, name) for name in target.names}
    if args.action == "list":
        listed = False
        for name, keys in every_keys.items():
            shard = f"{name}\t" if target.shards else ""
            items = client.lrange(keys.dead, 0, args.n - 1)
            records = client.hmget(keys.dead_records, items) if items else []
            listed = listed or bool(items)
            for item, record in zip(items, records, strict=True):
                _say(shard + _dead_line(dead_letter(item, record)))
        if not listed:
            _say(f"no dead letters in {args.name}")
        return EXIT_OK
    if args.dry_run:
        count = sum(int(client.llen(keys.dead)) for keys in every_keys.values())
        _say(f"would {args.action} {count} dead letters (dry run)")
        return EXIT_OK
    if args.action == "requeue":
        count = _library(url, client, target, lambda queue: queue.requeue_dead_items())
        _say(f"requeued {count} dead letters")
    else:
        count = _library(url, client, target, lambda queue: queue.purge_dead_items())
        _say(f"purged {count} dead letters")
    return EXIT_OK


def _dead_line(dead: DeadLetter) -> str:
    """One dead letter: when it died (UTC), its deliveries, its consumer, why, the item."""
    died = "-" if dead.died_at is None else time.strftime(_UTC, time.gmtime(dead.died_at))
    many = dead.deliveries
    deliveries = "-" if many is None else f"{many} deliver{'y' if many == 1 else 'ies'}"
    reason = "-" if dead.reason is None else " ".join(dead.reason.split())  # on one line
    fields = (died, deliveries, dead.consumer or "-", reason, _snapshot.text(dead.item))
    return "  ".join(fields)


def _watch(args: argparse.Namespace, client: _snapshot.Client, url: str) -> int:
    targets = _targets(client, args)
    before: dict[str, tuple[float, _snapshot.Snapshot | None]] = {}
    refreshes = range(args.count) if args.count else itertools.count()
    try:
        for refresh in refreshes:
            if refresh:
                time.sleep(args.interval)
            snapshots = [(time.monotonic(), _snapshot.read_target(client, t)) for t in targets]
            rates = _rates(client, targets)
            clock = time.strftime("%H:%M:%S", time.localtime(snapshots[0][1].server_time))
            lines = [f"aiopyrq watch  {mask(url)}  {clock}  every {args.interval:g} s"]
            for (read_at, snapshot), rate in zip(snapshots, rates, strict=True):
                was_at, was = before.get(snapshot.name, (read_at, None))
                lines += ["", *render(snapshot, was, read_at - was_at, rate)]
                before[snapshot.name] = (read_at, snapshot)
            if sys.stdout.isatty():
                sys.stdout.write("\x1b[H\x1b[2J")  # clear the screen
            _say("\n".join(lines) + "\n")
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def figures(snapshot: _snapshot.Snapshot) -> dict[str, int]:
    """The counts a snapshot shows, by label."""
    if isinstance(snapshot, _snapshot.PoolSnapshot):
        return {
            "total": snapshot.total,
            "due": snapshot.due,
            "in flight": snapshot.in_flight,
            "scheduled": snapshot.scheduled,
        }
    return {
        "waiting": snapshot.waiting,
        "delayed": snapshot.delayed,
        "in flight": snapshot.in_flight,
        "dead letters": snapshot.dead,
    }


def render(
    snapshot: _snapshot.Snapshot,
    before: _snapshot.Snapshot | None = None,
    seconds: float | None = None,
    history: dict[str, dict[str, float]] | None = None,
) -> list[str]:
    """The lines that show a snapshot, with the changes since ``before`` if given.

    With ``seconds`` (the time since ``before`` was read), a line shows each count's change
    per second: the net change of what the structure holds, not items added or handled.
    With ``history`` (``history_rates``), lines show the items added, delivered, acked ...
    per second over the last full minute and the last few.
    """
    was = figures(before) if before is not None else {}
    notes = {}
    title = _listing.title(snapshot.kind, _listing.row(snapshot)["shards"])
    if not isinstance(snapshot, _snapshot.PoolSnapshot):
        holding = sum(1 for holder in snapshot.holders if holder.items)
        notes = {
            "waiting": "age of the oldest: unknown (a list keeps no times)",
            "in flight": f"held by {counted(holding, 'consumer')}",
        }
    lines = [f"{snapshot.name} ({title})"]
    for label, value in figures(snapshot).items():
        change = f" ({value - was[label]:+})" if label in was else ""
        note = f"  {notes[label]}" if label in notes else ""
        lines.append(f"  {label:<13}{value:>8}{change}{note}")
    if was and seconds:
        rates = ", ".join(
            f"{k} {(v - was[k]) / seconds:+.1f}" for k, v in figures(snapshot).items()
        )
        lines.append(f"  Δ/s (change of each count per second, over {seconds:.1f} s): {rates}")
    for span, rates_of in (history or {}).items():
        shown = "  ".join(f"{event} {rate:.2f}" for event, rate in rates_of.items())
        lines.append(f"  {span.replace('_', ' ') + ':':<16} {shown}  (items/s)")
    if isinstance(snapshot, _snapshot.ShardedSnapshot):
        lines += _shard_table(snapshot)
    if not isinstance(snapshot, _snapshot.PoolSnapshot):
        lines += _consumer_table(snapshot)
    return lines


def _shard_table(snapshot: _snapshot.ShardedSnapshot) -> list[str]:
    """A line per shard, with its figures."""
    width = max(len("shard"), *(len(shard.name) for shard in snapshot.shards))
    lines = [f"  {'shard':<{width}}" + "".join(f"  {label}" for label in figures(snapshot))]
    for shard in snapshot.shards:
        cells = "".join(f"  {value:>{len(label)}}" for label, value in figures(shard).items())
        lines.append(f"  {shard.name:<{width}}{cells}")
    return lines


def _consumer_table(snapshot: _snapshot.QueueSnapshot | _snapshot.ShardedSnapshot) -> list[str]:
    """A line per consumer with a lease: its items and lease age (and shard)."""
    shards = snapshot.shards if isinstance(snapshot, _snapshot.ShardedSnapshot) else (snapshot,)
    rows = [(shard.name, holder) for shard in shards for holder in shard.holders]
    if not rows:
        return []
    width = max(len(holder.consumer_id) for _, holder in rows)
    where = max(len("shard"), *(len(name) for name, _ in rows))
    sharded = isinstance(snapshot, _snapshot.ShardedSnapshot)

    def line(shard: str, consumer: str, items: object, lease: str) -> str:
        start = f"  {shard:<{where}}" if sharded else ""
        return f"{start}  {consumer:<{width}}  {items:>6}  {lease}"

    return [
        line("shard", "consumer", "items", "lease age (since its last get or heartbeat)"),
        *(line(name, h.consumer_id, h.items, age(h.lease_age)) for name, h in rows),
    ]


def counted(count: int, noun: str) -> str:
    """``1 consumer``, ``2 consumers``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def age(seconds: float | None) -> str:
    """A duration for people: ``42 s``, ``3 min 5 s``, ``2 h 10 min``, ``3 d 4 h``."""
    if seconds is None:
        return "unknown"
    whole = max(0, round(seconds))
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"
