"""The dashboard: every queue, unique queue, pool and sharded queue of a server, in a browser.

``create_app(client)`` is an ASGI app (Starlette): ``aiopyrq web`` serves it with uvicorn,
and it mounts in an app of your own (``Mount("/queues", app=create_app(client))``). It needs
the extra ``web``: ``pip install 'aio-py-rq[web]'``.

Pages are rendered on the server; a small script (``static/dashboard.js``) fetches their
JSON every few seconds to refresh the counts, the consumers and the charts. Every asset is
in the package: nothing is fetched from elsewhere. The client is a synchronous
``redis.Redis`` or ``RedisCluster`` (the read model that ``aiopyrq ls`` and ``stats`` use);
each request reads in Starlette's thread pool.

Without a token the dashboard only reads. With one, a browser that signs in with it can
requeue or purge dead letters and requeue the items of stale consumers, each shown first
as a dry run (see ``_guard`` for the checks on each POST).
"""

from __future__ import annotations

import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aiopyrq.errors import MissingDependencyError

try:
    import jinja2
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
except ImportError as exc:
    msg = f"the dashboard needs the extra web: pip install 'aio-py-rq[web]' ({exc})"
    raise MissingDependencyError(msg) from exc

from urllib.parse import quote

import redis
import redis.cluster

from aiopyrq import _snapshot
from aiopyrq.web import _read
from aiopyrq.web._guard import COOKIE, Guard

if TYPE_CHECKING:
    from collections.abc import Sequence

    from starlette.requests import Request

__all__ = ["create_app"]

ACTIONS = {
    "requeue-dead": ("requeue", "dead letters", "back to the end of the queue"),
    "purge-dead": ("purge", "dead letters", "deleted for good"),
    "requeue-stale": ("requeue", "items of stale consumers", "back to the front of the queue"),
}
RESCAN = 30.0  # seconds: the overview's refreshes read the structures found, and SCAN anew
_SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def create_app(
    client: redis.Redis | redis.cluster.RedisCluster,
    *,
    token: str | None = None,
    label: str | None = None,
    refresh: float = 5.0,
    allowed_hosts: Sequence[str] | None = None,
) -> Starlette:
    """The dashboard of the structures on client's server (or cluster), as an ASGI app.

    Args:
        client: A synchronous ``redis.Redis`` or ``redis.cluster.RedisCluster``; a
            ``RedisCluster`` reads every master.
        token: The token that allows actions (a browser signs in with it; a script sends
            ``Authorization: Bearer TOKEN``). ``None``: read-only, every POST refused.
        label: What the pages call the server; default its host and port (never a
            password).
        refresh: Seconds between two refreshes of a page's numbers and charts.
        allowed_hosts: The host names requests may be addressed to (the ``Host`` header),
            others get 400: against DNS rebinding, a site that makes a visitor's browser
            read a dashboard on the visitor's loopback. ``None``: any.

    Returns:
        The app.

    Raises:
        TypeError: client is not a synchronous Redis client.
        ValueError: token is empty, or refresh not more than 0.
    """
    if not isinstance(client, redis.Redis | redis.cluster.RedisCluster):
        msg = f"client must be a redis.Redis or redis.cluster.RedisCluster: {client!r}"
        raise TypeError(msg)
    if not refresh > 0:
        msg = f"refresh must be more than 0 seconds, got {refresh!r}"
        raise ValueError(msg)
    views = _Views(client, Guard(token), label or _label(client), refresh)
    static = StaticFiles(packages=[("aiopyrq.web", "static")])
    routes = [
        Route("/", views.overview, name="overview"),
        Route("/api/overview", views.overview_json),
        Route("/s/{name:path}", views.structure, name="structure"),
        Route("/api/s/{name:path}", views.structure_json),
        Route("/act/{action}/{name:path}", views.preview, methods=["GET"]),
        Route("/act/{action}/{name:path}", views.act, methods=["POST"]),
        Route("/sign-in", views.sign_in, methods=["POST"]),
        Route("/sign-out", views.sign_out, methods=["POST"]),
        Mount("/static", static, name="static"),
    ]
    handlers: dict[Any, Any] = {
        HTTPException: views.error,
        _snapshot.SnapshotError: views.error,
        redis.RedisError: views.error,
        redis.exceptions.RedisClusterException: views.error,
    }
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.add_middleware(_Headers)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    return app


class _Headers:
    """Adds the security headers to every response."""

    def __init__(self, app: Any) -> None:  # noqa: ANN401 - any ASGI app
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:  # noqa: ANN401
        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {bytes(name).lower() for name, _ in message.get("headers", [])}
                extra = [
                    (name.encode(), value.encode())
                    for name, value in _SECURITY_HEADERS.items()
                    if name.encode() not in names
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, sending if scope["type"] == "http" else send)


def _label(client: redis.Redis | redis.cluster.RedisCluster) -> str:
    """The server's host:port (and database), from the client's settings: no password."""
    if isinstance(client, redis.cluster.RedisCluster):
        node = client.get_default_node()  # type: ignore[no-untyped-call]
        return f"Redis Cluster {node.host}:{node.port}"
    kwargs = client.connection_pool.connection_kwargs
    where = kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
    return f"{where}/{kwargs.get('db', 0)}"


class _Views:
    """The pages and their JSON, on one client, behind one guard."""

    def __init__(
        self,
        client: redis.Redis | redis.cluster.RedisCluster,
        guard: Guard,
        label: str,
        refresh: float,
    ) -> None:
        self.client = client
        self.guard = guard
        self.label = label
        self.refresh = refresh
        loader = jinja2.PackageLoader("aiopyrq.web", "templates")
        self.env = jinja2.Environment(
            loader=loader, autoescape=True, undefined=jinja2.StrictUndefined
        )
        self.env.filters["count"] = _count
        self.passwords = _passwords(client)
        self._found: dict[str, tuple[float, list[_snapshot.Target]]] = {}  # pattern: (when, what)

    def _page(self, request: Request, template: str, code: int = 200, **context: Any) -> Response:  # noqa: ANN401
        session = self.guard.session(request)
        root = request.scope.get("root_path", "")
        html = self.env.get_template(template).render(
            root=root,
            label=self.label,
            refresh=self.refresh,
            actions=self.guard.enabled,
            session=session,
            csrf=self.guard.csrf(session) if session else "",
            actions_list=ACTIONS,
            path=_path(root),
            **context,
        )
        return HTMLResponse(self._scrub(html), code)

    def _json(self, data: Any) -> Response:  # noqa: ANN401
        return JSONResponse(data, headers={"cache-control": "no-store"})

    def _scrub(self, text: str) -> str:
        """The text without the Redis password, should a message quote it."""
        for password in self.passwords:
            text = text.replace(password, "***")
        return text

    async def overview(self, request: Request) -> Response:
        pattern = request.query_params.get("match") or "*"
        rows = await run_in_threadpool(self._overview, pattern, fresh=True)
        return self._page(request, "overview.html", rows=rows, pattern=pattern)

    async def overview_json(self, request: Request) -> Response:
        pattern = request.query_params.get("match") or "*"
        return self._json({"rows": await run_in_threadpool(self._overview, pattern)})

    def _overview(self, pattern: str, *, fresh: bool = False) -> list[dict[str, Any]]:
        """The overview's rows: the structures of the last SCAN, each read now.

        A page load scans anew, a refresh when the last scan is ``RESCAN`` seconds old.
        """
        found, targets = self._found.get(pattern, (0.0, []))
        if fresh or time.monotonic() - found > RESCAN:
            targets = _read.find(self.client, pattern)
            if len(self._found) >= 16:  # noqa: PLR2004 - a few patterns are remembered
                self._found.clear()
            self._found[pattern] = (time.monotonic(), targets)
        return _read.overview(self.client, targets)

    async def structure(self, request: Request) -> Response:
        name = request.path_params["name"]
        data = await run_in_threadpool(_read.structure, self.client, name)
        return self._page(request, "structure.html", s=data, limits=_limits())

    async def structure_json(self, request: Request) -> Response:
        name = request.path_params["name"]
        return self._json(await run_in_threadpool(_read.structure, self.client, name, items=False))

    def _action(self, request: Request) -> tuple[str, str]:
        action, name = request.path_params["action"], request.path_params["name"]
        if action not in ACTIONS:
            raise HTTPException(404, f"no action {action!r}")
        if not self.guard.enabled:
            raise HTTPException(403, "read-only dashboard: start it with a token to act")
        return action, name

    async def preview(self, request: Request) -> Response:
        action, name = self._action(request)
        if self.guard.session(request) is None:
            raise HTTPException(403, "sign in with the token first")
        older_than = _older_than(request.query_params.get("older_than"))
        done = await run_in_threadpool(_read.preview, self.client, action, name, older_than)
        return self._page(
            request, "action.html", name=name, action=action, older_than=older_than, preview=done
        )

    async def act(self, request: Request) -> Response:
        action, name = self._action(request)
        form = await self.guard.check(request)
        older_than = _older_than(form.get("older_than"))
        count = await run_in_threadpool(_read.act, self.client, action, name, older_than)
        if "application/json" in request.headers.get("accept", ""):
            return self._json({"action": action, "name": name, "count": count})
        return self._page(
            request, "action.html", name=name, action=action, older_than=older_than, done=count
        )

    async def sign_in(self, request: Request) -> Response:
        response = RedirectResponse(f"{request.scope.get('root_path', '')}/", 303)
        await self.guard.sign_in(request, response)
        return response

    async def sign_out(self, request: Request) -> Response:
        response = RedirectResponse(f"{request.scope.get('root_path', '')}/", 303)
        response.delete_cookie(COOKIE, path=request.scope.get("root_path") or "/")
        return response

    async def error(self, request: Request, exc: Exception) -> Response:
        status, message = _status(exc)
        if isinstance(exc, _snapshot.UnknownNameError):  # its message is the command line's
            name = request.path_params.get("name", "")
            message = f"no queue, unique queue, pool or sharded queue named {name!r}"
            message += " (an empty one has no key: it shows once it holds items)"
        if request.url.path.startswith(f"{request.scope.get('root_path', '')}/api/"):
            return JSONResponse({"error": self._scrub(message)}, status)
        title = f"{status} {HTTPStatus(status).phrase}"
        return self._page(request, "error.html", status, title=title, message=message)


def _status(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, HTTPException):
        return exc.status_code, exc.detail
    if isinstance(exc, _snapshot.UnknownNameError):
        return 404, str(exc)
    if isinstance(exc, _snapshot.SnapshotError):
        return 409, str(exc)
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return 503, f"Redis cannot be reached: {exc}"
    return 503, f"Redis answered: {exc}"


def _older_than(value: str | None) -> int:
    try:
        seconds = int(value or 30)
    except ValueError:
        raise HTTPException(400, f"older_than must be whole seconds, got {value!r}") from None
    if seconds < 0:
        raise HTTPException(400, f"older_than must be 0 or more, got {seconds}")
    return seconds


def _passwords(client: redis.Redis | redis.cluster.RedisCluster) -> list[str]:
    if isinstance(client, redis.cluster.RedisCluster):
        node = client.get_default_node()  # type: ignore[no-untyped-call]
        kwargs = node.redis_connection.connection_pool.connection_kwargs
    else:
        kwargs = client.connection_pool.connection_kwargs
    return [kwargs["password"]] if kwargs.get("password") else []


def _path(root: str) -> Any:  # noqa: ANN401 - a template helper
    """A template helper: ``path("s", name)`` is the URL path of a page, each part quoted."""

    def path(*parts: str) -> str:
        return root + "/" + "/".join(quote(part, safe="") for part in parts)

    return path


def _limits() -> dict[str, int]:
    return {"head": _read.HEAD, "held": _read.HELD, "dead": _read.DEAD, "chars": _read.ITEM_CHARS}


def _count(value: int | None) -> str:
    """A count as the tables show it: ``1,234``, or an en dash where it does not apply."""
    return "\N{EN DASH}" if value is None else f"{value:,}"
