"""An httpx2 transport (the HTTP client under the openai SDK) that hands requests to an ASGI
app in this process and streams back the response body as the app sends it.

The page talks to the embedded API through the OpenAI client like to any backend; this
transport only takes the socket out of that path (no loopback connection, no HTTP parsing
on either side), so the request and the protocol stay the same. The ASGITransport of httpx
0.28 and of httpx2 cannot serve here: both run the app to the end and buffer the whole body
before returning, so a streamed answer would arrive all at once.

Closing the response early (Stop, or a client that gives up) sends `http.disconnect` to
the app, as a closed socket would, so the server cancels the generation as it does for
remote clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

import httpx2

log = logging.getLogger(__name__)

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

_CLIENT = ("127.0.0.1", 0)  # what the app sees as the peer: this process, on loopback
_END = None  # marks the end of the body in the chunk queue


class StreamingASGITransport(httpx2.AsyncBaseTransport):
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Requests still running in the app; held so that none is garbage-collected while
        # it winds down after a disconnect, as a server keeps running what it started.
        self.running: set[asyncio.Task[None]] = set()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        exchange = _Exchange(self.app, _scope(request), await request.aread())
        self.running.add(exchange.task)
        exchange.task.add_done_callback(self.running.discard)
        try:
            start = await exchange.start()
        except BaseException:  # cancelled (Stop) or failed before the response began
            await exchange.aclose()
            raise
        return httpx2.Response(
            start["status"], headers=start.get("headers", []), stream=exchange, request=request
        )


def _scope(request: httpx2.Request) -> dict[str, Any]:
    url = request.url
    return {
        "type": "http",
        "asgi": {"version": "3.0"},  # spec 2.0 semantics: disconnects come through receive()
        "http_version": "1.1",
        "method": request.method,
        "headers": [(name.lower(), value) for name, value in request.headers.raw],
        "scheme": url.scheme,
        "path": unquote(url.path),
        "raw_path": url.raw_path.split(b"?")[0],
        "query_string": url.query,
        "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
        "client": _CLIENT,
        "root_path": "",
    }


class _Exchange(httpx2.AsyncByteStream):
    """One request running in the app: its response start, then its body chunk by chunk."""

    def __init__(self, app: ASGIApp, scope: dict[str, Any], body: bytes) -> None:
        self._body = body
        self._body_sent = False
        self._disconnected = asyncio.Event()
        self._started: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(app, scope))

    async def start(self) -> Message:
        """The app's `http.response.start`; raises what the app raised before sending one."""
        done, _ = await asyncio.wait(
            {self._started, self.task}, return_when=asyncio.FIRST_COMPLETED
        )
        if self._started in done:
            return self._started.result()
        self.task.result()  # the app failed: its exception goes to the caller
        raise httpx2.RemoteProtocolError("the app returned without sending a response")

    async def _run(self, app: ASGIApp, scope: dict[str, Any]) -> None:
        try:
            await app(scope, self._receive, self._send)
        except Exception:
            # Logged as a server logs what its app raised. Once the response has begun, its
            # body just ends there, as it would over a socket.
            log.exception("The in-process app failed on %s %s", scope["method"], scope["path"])
            if not self._started.done():
                raise
        finally:
            self._chunks.put_nowait(_END)

    async def _receive(self) -> Message:
        if not self._body_sent:
            self._body_sent = True
            return {"type": "http.request", "body": self._body, "more_body": False}
        await self._disconnected.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._started.set_result(message)
        elif message["type"] == "http.response.body" and not self._disconnected.is_set():
            if body := message.get("body", b""):
                self._chunks.put_nowait(bytes(body))
            if not message.get("more_body", False):
                self._chunks.put_nowait(_END)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._chunks.get()) is not _END:
            yield chunk

    async def aclose(self) -> None:
        # As a closed socket: the app learns of it from receive() and winds down on its own
        # (a streaming response stops at once); the caller does not wait for that.
        self._disconnected.set()
