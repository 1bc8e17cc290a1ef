"""Caps on request bodies, per path prefix, enforced while the body is read.

A declared Content-Length over the cap is refused before any of the body is read; a
chunked body is counted as it arrives and refused once it passes the cap. Either way the
client gets a 413 in OpenAI's error shape and the server never holds more than the cap.
Route handlers (FastAPI's, Gradio's) read the whole body before they validate it or check
a login, so the cap has to sit in front of them, in the ASGI stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autoglm_demo.server.errors import error_body

MIB = 2**20


@dataclass(frozen=True)
class BodyCap:
    prefix: str  # the paths it covers; among several matching caps, the longest prefix wins
    max_bytes: int
    advice: str = "Send fewer or smaller images or audio."

    def message(self) -> str:
        size = f"{self.max_bytes / MIB:.3g} MiB"
        return f"The request body is larger than this server's limit of {size}. {self.advice}"


@dataclass
class _Transfer:
    """One request's progress: bytes seen, and whether a response has begun."""

    received: int = 0
    overflowed: bool = False
    answered: bool = False


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, caps: Sequence[BodyCap]) -> None:
        self._app = app
        self._caps = sorted(caps, key=lambda cap: len(cap.prefix), reverse=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cap = self._cap_for(scope)
        if cap is None:
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > cap.max_bytes:
            await _refuse(send, cap)
            return
        await self._limited(scope, receive, send, cap)

    def _cap_for(self, scope: Scope) -> BodyCap | None:
        if scope["type"] != "http":
            return None
        return next((cap for cap in self._caps if scope["path"].startswith(cap.prefix)), None)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, cap: BodyCap) -> None:
        """Run the app on a counted body; past the cap, its read fails and the answer is ours.

        Apps differ in what they make of a failed read (FastAPI passes our 413 on, a
        multipart parser may turn it into a 400), so whatever they answer after the
        overflow is dropped and the 413 sent instead.
        """
        transfer = _Transfer()

        async def counted() -> Message:
            message = await receive()
            transfer.received += len(message.get("body", b""))
            if transfer.received > cap.max_bytes:
                transfer.overflowed = True
                raise HTTPException(413, cap.message())
            return message

        async def guarded(message: Message) -> None:
            if transfer.overflowed and not transfer.answered:
                return
            transfer.answered = transfer.answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, counted, guarded)
        except Exception:
            if not transfer.overflowed:
                raise
        if transfer.overflowed and not transfer.answered:
            await _refuse(send, cap)


async def _refuse(send: Send, cap: BodyCap) -> None:
    body = error_body(413, cap.message()).model_dump_json().encode()
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
