"""Deadlines on reading a request, so a slow client cannot hold a connection for ever.

uvicorn bounds only the idle time between two requests (`timeout_keep_alive`), and every
byte that arrives disarms even that: nothing bounds how long a client may take to send its
headers or its body, so one byte a second keeps a connection, and a request's admission
place, open indefinitely. Two deadlines close that:

- the headers, at the connection: from the moment a connection is ready for a request (it
  has just opened, or answered the previous one) the next request's headers must have
  arrived within `--read-timeout`, or the connection is closed. Only the HTTP protocol sees
  this phase, so it is a small subclass of uvicorn's h11 protocol;
- the body, in the app: it must have arrived within `--read-timeout` of the request's start,
  or the request gets a 408 in OpenAI's error shape and the connection is closed.

A third bounds stopping: a server asked to stop waits for open responses, and some never
end by themselves (an open tab's heartbeat stream, or the one the MCP server's own
loopback client holds after its first tool call), so after `SHUTDOWN_GRACE_S` they are cut.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

SHUTDOWN_GRACE_S = 5  # within Docker's 10 s between its stop signal and its kill


def uvicorn_options(read_timeout_s: float) -> dict[str, Any]:
    """What `uvicorn.run` or `uvicorn.Config` needs besides the app, host and port."""
    return {
        "http": functools.partial(HeaderDeadlineProtocol, header_timeout_s=read_timeout_s),
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_S,
    }


class BodyDeadline:
    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self._app = app
        self._seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self._seconds
        body_done = False

        async def bounded() -> Message:
            nonlocal body_done
            if body_done:  # later receives wait for a disconnect, which may take all day
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                # Raised inside the route's body read, so the app's handler answers it.
                raise HTTPException(
                    408,
                    f"The request body did not arrive within {self._seconds:g} s.",
                    headers={"Connection": "close"},
                ) from None
            body_done = message["type"] != "http.request" or not message.get("more_body")
            return message

        await self._app(scope, bounded, send)


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's headers."""

    def __init__(self, *args: Any, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def on_response_complete(self) -> None:
        self._await_headers()  # first: a pipelined request is parsed inside the call below
        super().on_response_complete()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle or self.transport.get_protocol() is not self:
            self._stop_timer()  # headers complete (or handed over to a WebSocket)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        self._stop_timer()
        if not self.transport.is_closing():
            self._header_timer = self.loop.call_later(self._header_timeout_s, self._timed_out)

    def _stop_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _timed_out(self) -> None:
        self._header_timer = None
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and self.transport.get_protocol() is self:
            self.transport.close()
