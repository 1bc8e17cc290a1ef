"""Throttled page login: a bounded number of password tries per minute.

Gradio's POST /login checks the password at once, as often as it is asked, so a guesser
is limited only by the network. This ASGI middleware sits in front of it and counts every
try when it arrives, per client address and across all addresses (a guesser with many
addresses still gets the overall rate). Over either budget the try is refused with a 429
and Retry-After, before the password is looked at; refused tries do not count, so the
budget comes back within a minute. A correct password clears its address's count, so the
right person is never held back by their own earlier typos.

The address is the one uvicorn reports: behind a reverse proxy, set uvicorn's
FORWARDED_ALLOW_IPS to that proxy's address, or every visitor shares the proxy's budget.
"""

from __future__ import annotations

import json
import math
import time

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOGIN_PATHS = frozenset({"/login", "/login/"})
PER_ADDRESS = RateLimitItemPerMinute(5)
OVERALL = RateLimitItemPerMinute(30)
_EVERYONE = "*"


class LoginThrottle:
    def __init__(
        self,
        app: ASGIApp,
        *,
        per_address: RateLimitItem | None = None,
        overall: RateLimitItem | None = None,
    ) -> None:
        self._app = app
        self._per_address = per_address or PER_ADDRESS
        self._overall = overall or OVERALL
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_login(scope):
            await self._app(scope, receive, send)
            return
        address = scope["client"][0] if scope.get("client") else "unknown"
        if not self._admit(address):
            await self._refuse(send, address)
            return
        status = 0

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self._app(scope, receive, watched)
        if status == 200:
            self._limiter.clear(self._per_address, address)

    def _admit(self, address: str) -> bool:
        """Count this try against both budgets; False when either is spent."""
        return self._limiter.hit(self._per_address, address) and self._limiter.hit(
            self._overall, _EVERYONE
        )

    def _retry_after(self, address: str) -> int:
        """Seconds until both budgets have room again."""
        resets = [
            self._limiter.get_window_stats(item, key)
            for item, key in ((self._per_address, address), (self._overall, _EVERYONE))
        ]
        waits = [stats.reset_time - time.time() for stats in resets if stats.remaining == 0]
        return max(1, math.ceil(max(waits, default=1)))

    async def _refuse(self, send: Send, address: str) -> None:
        wait = self._retry_after(address)
        detail = f"Too many login attempts. Try again in {wait} s."
        body = json.dumps({"detail": detail}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(wait).encode()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def login_note() -> str:
    """What the login form tells people about the throttle."""
    return f"After {PER_ADDRESS.amount} wrong passwords in a minute, wait a minute to try again."


def _is_login(scope: Scope) -> bool:
    return scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in LOGIN_PATHS
