"""Every failure leaves the server in OpenAI's error shape, with a status a client can act on.

Bad input is a 4xx with a message a person can read; anything unexpected is a 500 whose
body says nothing about the server's internals (the details go to the log).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from autoglm_demo.server.protocol import ErrorDetail, ErrorResponse

log = logging.getLogger(__name__)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}


class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> ErrorResponse:
        return error_body(self.status, self.message, param=self.param, code=self.code)


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> ErrorResponse:
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    # A message may quote the request, which may hold lone surrogates that no response
    # could encode; they become "?".
    message = message.encode("utf-8", "replace").decode()
    return ErrorResponse(error=ErrorDetail(message=message, type=kind, param=param, code=code))


def _response(
    status: int, body: ErrorResponse, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _describe_validation(error: RequestValidationError) -> tuple[str, str | None]:
    """The first problem, phrased as `field.path: what is wrong`."""
    first = error.errors()[0]
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON.", None
    param = ".".join(location) or None
    message = first.get("msg", "invalid request")
    return (f"{param}: {message}" if param else message), param


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_: Request, error: APIError) -> JSONResponse:
        return _response(error.status, error.body(), error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        message, param = _describe_validation(error)
        return _response(400, error_body(400, message, param=param))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return _response(
            error.status_code, error_body(error.status_code, str(error.detail)), error.headers
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("Unhandled error while serving a request")
        return _response(500, error_body(500, "Internal server error; see the server log."))
