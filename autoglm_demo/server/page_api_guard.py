"""Credentials on the page's API routes that Gradio itself leaves open.

Gradio guards its own API (the queue, uploads, the API schema) with the page login, but
not the MCP server it mounts at /gradio_api/mcp, and it knows nothing of --api-key. This
ASGI middleware sits in front of the page and asks for:

- the API key (`Authorization: Bearer KEY`), when one is set, on the API schema that
  gradio_client reads (`view_api`) and on MCP. The public endpoints check the key
  themselves (`ui/api.py`), so a call by index is refused too;
- otherwise the page login, on MCP, as HTTP Basic (MCP clients send headers, not the
  login form's cookie). Wrong logins are throttled per address and overall, as the form is.

The page's own UI events need neither: a browser cannot send a key, and the login form
already guards them when there is a login.
"""

from __future__ import annotations

import json

from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from autoglm_demo.access import KEY_REFUSED, LOGIN_REFUSED, Login, basic_matches, bearer_matches
from autoglm_demo.server.errors import error_body
from autoglm_demo.server.login_throttle import OVERALL, PER_ADDRESS

MCP_PREFIX = "/gradio_api/mcp"
SCHEMA_PATHS = frozenset({"/gradio_api/info", "/gradio_api/info/", "/gradio_api/openapi.json"})
_EVERYONE = "*"


class PageApiGuard:
    def __init__(self, app: ASGIApp, *, api_key: str | None, login: Login | None) -> None:
        self._app = app
        self._api_key = api_key
        self._login = login
        self._failures = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._guarded(scope["path"]):
            await self._app(scope, receive, send)
            return
        authorization = _header(scope, b"authorization")
        if self._api_key:
            if not bearer_matches(self._api_key, authorization):
                await _refuse(send, 401, KEY_REFUSED, "invalid_api_key", b"Bearer")
                return
        elif self._login:
            address = scope["client"][0] if scope.get("client") else "unknown"
            if not self._may_try(address):
                await _refuse(
                    send,
                    429,
                    "Too many wrong logins. Try again in a minute.",
                    "rate_limited",
                    retry_after=60,
                )
                return
            if not basic_matches(self._login, authorization):
                self._failures.hit(PER_ADDRESS, address)
                self._failures.hit(OVERALL, _EVERYONE)
                await _refuse(
                    send, 401, LOGIN_REFUSED, "invalid_login", b'Basic realm="AutoGLM demo"'
                )
                return
        await self._app(scope, receive, send)

    def _guarded(self, path: str) -> bool:
        if path == MCP_PREFIX or path.startswith(MCP_PREFIX + "/"):
            return bool(self._api_key or self._login)
        return path in SCHEMA_PATHS and bool(self._api_key)  # the login: Gradio checks it

    def _may_try(self, address: str) -> bool:
        """Whether this address (and everyone together) still has wrong logins to spend."""
        return self._failures.test(PER_ADDRESS, address) and self._failures.test(OVERALL, _EVERYONE)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _refuse(
    send: Send,
    status: int,
    message: str,
    code: str,
    challenge: bytes | None = None,
    *,
    retry_after: int | None = None,
) -> None:
    body = json.dumps(error_body(status, message, code=code).model_dump()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if challenge:
        headers.append((b"www-authenticate", challenge))
    if retry_after:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
