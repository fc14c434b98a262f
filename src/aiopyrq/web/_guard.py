"""Who may act: the token, the session cookie it opens, and the checks on every POST.

Without a token the dashboard only reads: it shows no action, and refuses every POST.
With one, a browser signs in by posting the token; it gets a session cookie (signed with
a key of this process, ``HttpOnly``, ``SameSite=Strict``) and each of its forms carries a
CSRF token tied to that cookie. A POST must then come from the dashboard's own pages
(``Sec-Fetch-Site`` and ``Origin``, when the browser sends them, name this origin) and
carry the cookie and its CSRF token; or, from a script, carry ``Authorization: Bearer
TOKEN`` (a header no other site can make a browser send). Anything else gets 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from starlette.exceptions import HTTPException

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

COOKIE = "aiopyrq_session"
SESSION_SECONDS = 12 * 3600
_MAX_FORM = 4096  # bytes: the forms hold a token, a number and a CSRF token


class Guard:
    """The token's keeper: signs sessions in and checks each POST.

    Args:
        token: The token that allows actions; ``None``: the dashboard only reads.
    """

    def __init__(self, token: str | None) -> None:
        if token is not None and not token.strip():
            msg = "the token must not be empty (leave it out for a read-only dashboard)"
            raise ValueError(msg)
        self._token = token
        self._key = secrets.token_bytes(32)  # sessions end with the process

    @property
    def enabled(self) -> bool:
        """Whether actions are possible at all (a token is set)."""
        return self._token is not None

    def session(self, request: Request) -> str | None:
        """The signed-in session of the request's cookie, if valid and not expired."""
        value = request.cookies.get(COOKIE, "")
        issued, _, mac = value.rpartition(".")
        stamp = issued.partition(".")[0]
        if not (self.enabled and stamp.isdigit() and hmac.compare_digest(mac, self._sign(issued))):
            return None
        return issued if time.time() - int(stamp) < SESSION_SECONDS else None

    def csrf(self, session: str) -> str:
        """The CSRF token of a session, which its forms carry."""
        return self._sign(f"csrf:{session}")

    async def sign_in(self, request: Request, response: Response) -> None:
        """Check a posted token and set the session cookie on response.

        Raises:
            HTTPException: 403: not from this origin, or not the token.
        """
        form = await self._form(request)
        if not self._is_token(form.get("token", "")):
            raise HTTPException(403, "wrong token")
        issued = f"{int(time.time())}.{secrets.token_urlsafe(16)}"
        response.set_cookie(
            COOKIE,
            f"{issued}.{self._sign(issued)}",
            max_age=SESSION_SECONDS,
            path=request.scope.get("root_path") or "/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )

    async def check(self, request: Request) -> dict[str, str]:
        """Check that a POST may act; return its form.

        Raises:
            HTTPException: 403: no token set, not from this origin, no valid session and
                CSRF token, nor the token as a bearer.
        """
        form = await self._form(request)
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self._is_token(bearer):
            return form
        session = self.session(request)
        if session is None:
            raise HTTPException(403, "sign in with the token first")
        if not hmac.compare_digest(form.get("csrf", ""), self.csrf(session)):
            raise HTTPException(403, "the form is stale or not from this dashboard: reload it")
        return form

    async def _form(self, request: Request) -> dict[str, str]:
        """The URL-encoded form of a POST from this origin, when actions are possible."""
        if not self.enabled:
            raise HTTPException(403, "read-only dashboard: start it with a token to act")
        if not same_origin(request):
            raise HTTPException(403, "cross-site request refused")
        body = await request.body()
        if len(body) > _MAX_FORM:
            raise HTTPException(413, "form too large")
        fields = parse_qs(body.decode(errors="replace"), max_num_fields=10)
        return {key: values[0] for key, values in fields.items()}

    def _is_token(self, given: str) -> bool:
        return self._token is not None and hmac.compare_digest(given.encode(), self._token.encode())

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()


def same_origin(request: Request) -> bool:
    """Whether the browser says the request comes from a page of this origin.

    ``Sec-Fetch-Site`` must be ``same-origin`` and ``Origin`` name this host, when sent (a
    script without them must then hold a session and its CSRF token, or the token).
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")
