"""The console's session token: every state-changing request is a POST that carries it.

A page is served with a random per-session token in a ``SameSite=Strict`` cookie and the same token in the
page (a form field, or the ``X-Console-Token`` header htmx sends). A POST is served only when both are
present, equal and issued by this server: another site can make the browser send the cookie, but cannot read
the page to learn the token (double submit, keyed to tokens this process issued).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

COOKIE = "headwater_console"
FIELD = "token"
HEADER = "X-Console-Token"
TOKEN_KEY = web.RequestKey("console_token", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SessionTokens:
    """Tokens issued by this console (forgotten at restart: a stale page's POST is refused)."""

    def __init__(self) -> None:
        self._issued: set[str] = set()

    def issue(self) -> str:
        """A new session token."""
        token = secrets.token_urlsafe(32)
        self._issued.add(token)
        return token

    def known(self, token: str | None) -> bool:
        """Whether ``token`` was issued here."""
        return bool(token) and any(hmac.compare_digest(token or "", t) for t in self._issued)

    def middleware(self) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
        """Refuse a POST without the session's token (403); give every page a session token."""

        @web.middleware
        async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
            cookie = request.cookies.get(COOKIE)
            if request.method not in ("GET", "HEAD"):
                sent = request.headers.get(HEADER)
                if sent is None and request.content_type in ("application/x-www-form-urlencoded",
                                                             "multipart/form-data"):
                    sent = str((await request.post()).get(FIELD, "")) or None
                if not (self.known(cookie) and sent is not None and hmac.compare_digest(sent, cookie or "")):
                    raise web.HTTPForbidden(text="Forbidden: this request lacks the console's session token; "
                                                 "reload the page and try again.")
            fresh = not self.known(cookie)
            token = self.issue() if fresh else str(cookie)
            request[TOKEN_KEY] = token
            response = await handler(request)
            if fresh and not response.prepared:  # a stream's headers are gone already
                response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
            return response

        return check
