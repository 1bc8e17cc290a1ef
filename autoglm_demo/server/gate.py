"""The door of the routes that run the model: key first, then a place, then the body.

A chat or transcription request takes its admission ticket as it arrives, before its body
is read, so reading and decoding the body, OCR, speech recognition and prompt rendering all
happen inside `--max-concurrent + --max-queue`; a burst past that gets 429 with Retry-After
at once, having cost nothing. The API key is checked here first (the routes check it again),
so a client without it can neither take places nor make the server read its body.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from autoglm_demo.engine.admission import Admission, QueueFull, Ticket
from autoglm_demo.server.auth import check_key
from autoglm_demo.server.errors import APIError

GATED = {("POST", "/v1/chat/completions"), ("POST", "/v1/audio/transcriptions")}
_TICKET = "admission_ticket"


class AdmissionGate:
    def __init__(self, app: ASGIApp, *, admission: Admission, api_key: str | None) -> None:
        self._app = app
        self._admission = admission
        self._api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) not in GATED:
            await self._app(scope, receive, send)
            return
        try:
            check_key(self._api_key, Headers(scope=scope).get("authorization"))
            ticket = self._enter()
        except APIError as error:
            response = JSONResponse(error.body().model_dump(), error.status, error.headers)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[_TICKET] = ticket
        try:
            await self._app(scope, receive, send)
        finally:
            ticket.leave()

    def _enter(self) -> Ticket:
        try:
            return self._admission.enter()
        except QueueFull as error:
            raise APIError(
                429,
                str(error),
                code="queue_full",
                headers={"Retry-After": str(error.retry_after_s)},
            ) from None


def ticket_of(request: Request) -> Ticket:
    """The ticket the gate gave this request."""
    return getattr(request.state, _TICKET)
