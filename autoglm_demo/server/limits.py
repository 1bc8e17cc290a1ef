"""A cap on request bodies under /v1, enforced while the body is read.

A declared Content-Length over the cap is refused before any of the body is read; a
chunked body is counted as it arrives and refused once it passes the cap. Either way the
client gets a 413 in OpenAI's error shape and the server never holds more than the cap.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autoglm_demo.server.errors import error_body


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int, prefix: str = "/v1") -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self._prefix):
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self._max_bytes:
            await self._refuse(send)
            return
        await self._app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self._max_bytes:
                # Raised inside the route's body read, so the app's handler answers 413.
                raise HTTPException(413, self._message())
            return message

        return counted

    def _message(self) -> str:
        return (
            f"The request body is larger than this server's limit of "
            f"{self._max_bytes // 2**20} MiB. Send fewer or smaller images or audio."
        )

    async def _refuse(self, send: Send) -> None:
        body = error_body(413, self._message()).model_dump_json().encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
