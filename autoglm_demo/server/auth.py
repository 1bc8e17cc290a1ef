"""The optional API key on /v1: a Bearer token, checked in constant time.

Only /v1 (and, with a key, the API's OpenAPI schema) is guarded; /health stays open so load
balancers and Docker's healthcheck need no key. The page's own client sends the same key,
so setting it never locks the page out.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from autoglm_demo.access import KEY_REFUSED, bearer_matches
from autoglm_demo.server.errors import APIError

# auto_error=False: a missing header must become our OpenAI-shaped 401, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="The server's --api-key, when it has one.")


def check_key(expected: str | None, authorization: str | None) -> None:
    """Raise the 401 unless `authorization` is `Bearer <expected>` (or no key is set)."""
    if not expected:
        return
    if not bearer_matches(expected, authorization):
        raise APIError(401, KEY_REFUSED, code="invalid_api_key")


def require_api_key(
    request: Request,
    # Declared so the OpenAPI schema shows the scheme; the header is read by check_key.
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    check_key(request.app.state.settings.api_key, request.headers.get("authorization"))
