"""The page's event stream is held open a moment after its last event, so no event is lost.

A tab receives its events' messages on one stream (GET /gradio_api/queue/data). Gradio's
server ends that stream with a `close_stream` message once the session has no event
pending, and Gradio's browser client opens a new stream only when it joins an event while
it believes none is open. An event whose join is answered after the server decided to
close but before the client has read the `close_stream` is therefore never delivered: the
page waits on it for ever. One click that starts two events, or an event chained after
another, joins in exactly that gap, and on a busy machine it was seen to happen (a chat
answer or an export that never arrived, with the server idle).

So the `close_stream` message is held back for `LINGER_S`. If another event of the session
joins meanwhile, the stream goes on: Gradio's stream handler is called again for the same
session and its messages reach a client that still thinks the stream is open. If none
joins, the `close_stream` goes out as before. A tab that goes away ends its stream, as before.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from urllib.parse import parse_qs

import gradio as gr
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LINGER_S = 2.0  # far longer than the gap, short enough not to hold a connection for long
_POLL_S = 0.005
_STREAM_PATH = "/gradio_api/queue/data"


def event_stream_middleware(demo: gr.Blocks, linger_s: float = LINGER_S) -> Middleware:
    """The middleware for `demo`'s own app (`gr.mount_gradio_app`'s app_kwargs), which
    reads the session's pending events from Gradio's queue: it has no public accessor."""

    def pending(session: str) -> bool:
        return bool(demo._queue.pending_event_ids_session.get(session))

    return Middleware(LingeringEventStream, pending=pending, linger_s=linger_s)


def is_close_stream(body: bytes) -> bool:
    """Whether `body` is one server-sent event carrying Gradio's `close_stream` message."""
    if b'"close_stream"' not in body:  # every streamed update passes here: no parse for it
        return False
    text = body.decode("utf-8", "replace").strip()
    if not text.startswith("data:"):
        return False
    try:
        message = json.loads(text.removeprefix("data:"))
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("msg") == "close_stream"


class LingeringEventStream:
    """ASGI middleware for the page's Gradio app. `pending(session)`: whether the session
    has an event that has joined and not yet completed."""

    def __init__(
        self, app: ASGIApp, *, pending: Callable[[str], bool], linger_s: float = LINGER_S
    ) -> None:
        self._app = app
        self._pending = pending
        self._linger_s = linger_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = _stream_session(scope)
        if session is None:
            await self._app(scope, receive, send)
            return
        started = False
        while True:
            relay = _Relay(send, started)
            await self._app(scope, receive, relay.send)
            started = True
            if relay.close_stream is None:  # ended otherwise (the tab left, an error)
                await relay.finish()
                return
            joined = await self._next_event_joins(session, receive)
            if joined is None:  # the tab left while the stream lingered
                return
            if not joined:
                await relay.finish()
                return

    async def _next_event_joins(self, session: str, receive: Receive) -> bool | None:
        """True once an event of `session` is pending, False after `linger_s` without one,
        None if the client disconnects first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._linger_s
        gone = asyncio.ensure_future(receive())  # after the request, only a disconnect
        try:
            while loop.time() < deadline:
                if gone.done():
                    return None
                if self._pending(session):
                    return True
                await asyncio.wait({gone}, timeout=_POLL_S)
            return False
        finally:
            gone.cancel()


class _Relay:
    """Passes one run of Gradio's stream handler on to the client, keeping back its
    `close_stream` message and the response's end; on a later run, also its start."""

    def __init__(self, send: Send, started: bool) -> None:
        self._send = send
        self._started = started
        self.close_stream: bytes | None = None
        self._end: Message | None = None
        self._refused = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            # A later run refused (its session gone) must not write its error into the stream.
            self._refused = self._started and message["status"] != 200
            if not self._started:
                await self._send(message)
            return
        if self._refused:
            return
        if message["type"] == "http.response.body":
            body = message.get("body", b"")
            if is_close_stream(body):
                self.close_stream = body
                return
            if not message.get("more_body", False):
                self._end = message
                return
        await self._send(message)

    async def finish(self) -> None:
        """Send what was kept back: the `close_stream` message, then the response's end."""
        if self.close_stream is not None:
            await self._send(
                {"type": "http.response.body", "body": self.close_stream, "more_body": True}
            )
        await self._send(self._end or {"type": "http.response.body", "body": b""})


def _stream_session(scope: Scope) -> str | None:
    """The session whose event stream `scope` asks for; None for any other request."""
    if scope["type"] != "http" or not scope["path"].endswith(_STREAM_PATH):
        return None
    sessions = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_hash")
    return sessions[0] if sessions else None
